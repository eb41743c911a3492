//! RFC 3261 §17 transactions, with RFC 6026's Accepted state, over UDP.
//!
//! Each transaction is a small state machine. Inputs (a response, a retransmitted request, a
//! response from the TU, a timer) go in through `on_*` methods, which return [`Effect`]s the
//! engine carries out: datagrams to send, timers to arm or disarm, news for the transaction
//! user (the call). The four machines live in their own files:
//! [`client_invite`], [`client_non_invite`], [`server_invite`], [`server_non_invite`].

pub(crate) mod client_invite;
pub(crate) mod client_non_invite;
mod key;
pub(crate) mod server_invite;
pub(crate) mod server_non_invite;
mod timer;

use std::time::Duration;

use crate::hop::Hop;
use crate::sip::StatusCode;

pub(crate) use key::{DialogKey, MergeKey, TxKey};
pub(crate) use timer::Timer;

/// Identifies a transaction inside one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TxId(pub(crate) u64);

/// Which of the four machines a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

/// RFC 3261 §17 states (plus RFC 6026 Accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum TxState {
    /// INVITE client: request sent, no response yet.
    Calling,
    /// Non-INVITE: request sent or received, no response yet.
    Trying,
    /// A provisional response was received or sent.
    Proceeding,
    /// RFC 6026: a 2xx to an INVITE was received or sent.
    Accepted,
    /// A final (non-2xx for INVITE) response was received or sent.
    Completed,
    /// INVITE server: the ACK for a non-2xx final arrived.
    Confirmed,
    /// Done.
    Terminated,
}

/// What the transaction user learns from a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TuNews {
    /// Pass the response that came in to the TU.
    Response,
    /// The request got no final response in time (Timer B or F).
    Timeout,
    /// The request could not be delivered (RFC 3261 §17.1.4): a connect refused or reset.
    TransportError,
}

/// What the engine does for a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Send the transaction's last message (the response just given, or a retransmission).
    SendLast,
    /// Send the ACK of an INVITE client transaction's non-2xx final response.
    SendAck,
    /// Arm a timer to fire after this long.
    Arm(Timer, Duration),
    /// Disarm a timer.
    Disarm(Timer),
    /// Tell the transaction user.
    Tell(TuNews),
    /// The transaction is over: forget it.
    Terminate,
}

/// The RFC 3261 timer base values a transaction works with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) t1: Duration,
    pub(crate) t2: Duration,
    pub(crate) t4: Duration,
}

impl Timing {
    /// 64·T1: Timers B, F, H, J, L and M.
    pub(crate) fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// One transaction.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub(crate) role: Role,
    pub(crate) state: TxState,
    /// How this transaction's messages travel: to the request's next hop (client), or back to
    /// where the request came from (server: its connection, or the response address of its top
    /// Via).
    pub(crate) hop: Hop,
    /// The last message sent (the request for a client, the last response for a server).
    pub(crate) last: Vec<u8>,
    /// The ACK for a non-2xx final (INVITE client).
    pub(crate) ack: Vec<u8>,
    /// The current retransmission interval (Timers A, E, G).
    pub(crate) interval: Duration,
    pub(crate) timing: Timing,
}

impl Transaction {
    pub(crate) fn new(role: Role, hop: Hop, timing: Timing) -> Self {
        Self {
            role,
            state: match role {
                Role::InviteClient => TxState::Calling,
                Role::InviteServer => TxState::Proceeding,
                Role::NonInviteClient | Role::NonInviteServer => TxState::Trying,
            },
            hop,
            last: Vec::new(),
            ack: Vec::new(),
            interval: timing.t1,
            timing,
        }
    }

    /// The first effects of a client transaction whose request was just sent.
    pub(crate) fn start(&self) -> Vec<Effect> {
        match self.role {
            Role::InviteClient => client_invite::start(self),
            Role::NonInviteClient => client_non_invite::start(self),
            Role::InviteServer | Role::NonInviteServer => Vec::new(),
        }
    }

    /// A response arrived for this (client) transaction.
    pub(crate) fn on_response(&mut self, status: StatusCode) -> Vec<Effect> {
        match self.role {
            Role::InviteClient => client_invite::on_response(self, status),
            Role::NonInviteClient => client_non_invite::on_response(self, status),
            Role::InviteServer | Role::NonInviteServer => Vec::new(),
        }
    }

    /// A retransmission of the request arrived for this (server) transaction.
    pub(crate) fn on_retransmission(&mut self) -> Vec<Effect> {
        match self.role {
            Role::InviteServer => server_invite::on_retransmission(self),
            Role::NonInviteServer => server_non_invite::on_retransmission(self),
            Role::InviteClient | Role::NonInviteClient => Vec::new(),
        }
    }

    /// The TU sends a response through this (server) transaction; `bytes` is its wire form.
    pub(crate) fn on_respond(&mut self, status: StatusCode, mut bytes: Vec<u8>) -> Vec<Effect> {
        // Kept for retransmissions, possibly for 64·T1: no spare capacity.
        bytes.shrink_to_fit();
        match self.role {
            Role::InviteServer => server_invite::on_respond(self, status, bytes),
            Role::NonInviteServer => server_non_invite::on_respond(self, status, bytes),
            Role::InviteClient | Role::NonInviteClient => Vec::new(),
        }
    }

    /// An ACK matched this INVITE server transaction (so it is for a non-2xx final).
    pub(crate) fn on_ack(&mut self) -> Vec<Effect> {
        match self.role {
            Role::InviteServer => server_invite::on_ack(self),
            _ => Vec::new(),
        }
    }

    /// The host could not deliver this (client) transaction's request (RFC 3261 §17.1.4): it
    /// ends at once, as if every timer had run out.
    pub(crate) fn on_transport_error(&mut self) -> Vec<Effect> {
        let waiting = matches!(
            (self.role, self.state),
            (Role::InviteClient, TxState::Calling | TxState::Proceeding)
                | (Role::NonInviteClient, TxState::Trying | TxState::Proceeding)
        );
        if !waiting {
            return Vec::new();
        }
        self.state = TxState::Terminated;
        vec![Effect::Tell(TuNews::TransportError), Effect::Terminate]
    }

    /// A timer of this transaction fired.
    pub(crate) fn on_timer(&mut self, timer: Timer) -> Vec<Effect> {
        match self.role {
            Role::InviteClient => client_invite::on_timer(self, timer),
            Role::NonInviteClient => client_non_invite::on_timer(self, timer),
            Role::InviteServer => server_invite::on_timer(self, timer),
            Role::NonInviteServer => server_non_invite::on_timer(self, timer),
        }
    }

    /// Whether `last` may still be sent again in this state (a retransmission timer, or a
    /// retransmitted request to re-answer): if not, the engine frees it, keeping only what a
    /// retransmission needs.
    pub(crate) fn keeps_last(&self) -> bool {
        match self.role {
            Role::InviteClient => self.state == TxState::Calling,
            Role::NonInviteClient => matches!(self.state, TxState::Trying | TxState::Proceeding),
            Role::InviteServer => matches!(self.state, TxState::Proceeding | TxState::Completed),
            Role::NonInviteServer => {
                matches!(self.state, TxState::Proceeding | TxState::Completed)
            }
        }
    }

    /// How long only retransmissions are left to absorb or re-answer, if that is all: 64·T1
    /// (RFC 6026 Timers L and M, RFC 3261 Timer J) or T4 (Timer K). The engine keeps such a
    /// transaction in compact form.
    pub(crate) fn lingers(&self) -> Option<Duration> {
        match (self.role, self.state) {
            (Role::InviteServer, TxState::Accepted)
            | (Role::NonInviteServer, TxState::Completed)
            | (Role::InviteClient, TxState::Accepted) => Some(self.timing.t1x64()),
            (Role::NonInviteClient, TxState::Completed) => Some(self.timer_k()),
            _ => None,
        }
        .filter(|duration| !duration.is_zero())
    }

    /// Whether this transaction retransmits (Timers A, E, G): only over UDP (RFC 3261 §17).
    pub(crate) fn retransmits(&self) -> bool {
        !self.hop.is_reliable()
    }

    /// Timer D: 32 s over UDP, zero over a reliable transport.
    pub(crate) fn timer_d(&self) -> Duration {
        self.unless_reliable(Duration::from_secs(32))
    }

    /// Timer I: T4 over UDP, zero over a reliable transport.
    pub(crate) fn timer_i(&self) -> Duration {
        self.unless_reliable(self.timing.t4)
    }

    /// Timer J: 64·T1 over UDP, zero over a reliable transport.
    pub(crate) fn timer_j(&self) -> Duration {
        self.unless_reliable(self.timing.t1x64())
    }

    /// Timer K: T4 over UDP, zero over a reliable transport.
    pub(crate) fn timer_k(&self) -> Duration {
        self.unless_reliable(self.timing.t4)
    }

    fn unless_reliable(&self, duration: Duration) -> Duration {
        if self.hop.is_reliable() {
            Duration::ZERO
        } else {
            duration
        }
    }

    /// Whether the TU may still send a response through this server transaction.
    pub(crate) fn can_respond(&self) -> bool {
        matches!(self.state, TxState::Trying | TxState::Proceeding)
    }
}
