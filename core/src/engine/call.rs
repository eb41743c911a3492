//! A call: two legs, the requests being relayed between them, and how it is ending.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::relays::LyncMedia;
use super::reply::ReplyTo;
use crate::dialog::Dialog;
use crate::sip::{Method, Request};
use crate::status::{CallStatus, EndedBy, LegState, LegStatus, Outcome, Side, TurnDecision};
use crate::time::Instant;
use crate::transaction::TxId;

/// Identifies a call inside one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CallId(pub(crate) u64);

/// Identifies a relayed request inside one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RelayId(pub(crate) u64);

/// One leg of a call.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) side: Side,
    pub(crate) serial: u64,
    pub(crate) state: LegState,
    pub(crate) dialog: Dialog,
    /// Where the leg's INVITE came from (A) or went to (B): the fallback next hop.
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) source: String,
    pub(crate) destination: String,
    pub(crate) final_status: Option<u16>,
    /// A 2xx TwoLeg sent on this leg that waits for its ACK.
    pub(crate) awaiting_ack: Option<AwaitAck>,
    /// The ACK TwoLeg last sent on this leg for a 2xx, re-sent when the 2xx is retransmitted.
    pub(crate) last_ack: Option<SentAck>,
    /// A BYE to send on this leg once its ACK arrives (RFC 3261 §15: not before).
    pub(crate) bye_held: bool,
    /// TwoLeg sent BYE on this leg.
    pub(crate) bye_sent: bool,
}

impl Leg {
    pub(crate) fn status(&self) -> LegStatus {
        LegStatus {
            side: self.side,
            serial: self.serial,
            state: self.state,
            call_id: self.dialog.call_id.clone(),
            local_tag: self.dialog.local_tag.clone(),
            remote_tag: self.dialog.remote_tag.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            peer: self.peer,
            local: self.local,
            final_status: self.final_status,
        }
    }

    pub(crate) fn next_hop(&self) -> SocketAddr {
        self.dialog.next_hop(self.peer)
    }
}

/// A 2xx to an INVITE, retransmitted until its ACK arrives (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(crate) struct AwaitAck {
    pub(crate) cseq: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) destination: SocketAddr,
    pub(crate) interval: Duration,
    /// The ACK for the other leg's 2xx, held until this ACK brings the SDP answer (late offer).
    pub(crate) held_ack: Option<HeldAck>,
}

/// An ACK TwoLeg owes the other leg, waiting for the SDP answer.
#[derive(Debug)]
pub(crate) struct HeldAck {
    pub(crate) side: Side,
    pub(crate) cseq: u32,
}

/// An ACK as sent.
#[derive(Debug)]
pub(crate) struct SentAck {
    pub(crate) cseq: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) destination: SocketAddr,
}

/// Where a CANCEL of a relayed INVITE stands (RFC 3261 §9.1: not before a provisional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelState {
    None,
    /// The server side was cancelled; CANCEL goes out at the first provisional.
    Pending,
    Sent,
}

/// A request received on one leg and sent on the other.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) method: Method,
    /// The call's first INVITE.
    pub(crate) initial: bool,
    pub(crate) server_side: Side,
    pub(crate) server_tx: TxId,
    pub(crate) reply: ReplyTo,
    /// The received request carried a body (an SDP offer, for an INVITE).
    pub(crate) server_had_body: bool,
    /// The request as sent, for building its CANCEL.
    pub(crate) client_request: Request,
    /// The client transaction of the relayed request.
    pub(crate) client_tx: TxId,
    pub(crate) client_peer: SocketAddr,
    pub(crate) got_provisional: bool,
    /// The re-INVITE no-answer timer is armed.
    pub(crate) no_answer_armed: bool,
    pub(crate) cancel: CancelState,
}

/// How the call ended, decided by the first thing that ended it.
#[derive(Clone, Debug)]
pub(crate) struct Ending {
    pub(crate) final_status: u16,
    pub(crate) outcome: Outcome,
    pub(crate) ended_by: EndedBy,
    pub(crate) reason: String,
}

/// A call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) tag: String,
    pub(crate) route: String,
    pub(crate) turn: TurnDecision,
    /// The Lync leg's TURN relays, while they are being allocated or in use.
    pub(crate) media: Option<LyncMedia>,
    pub(crate) legs: [Leg; 2],
    pub(crate) started_at: Instant,
    pub(crate) answered_at: Option<Instant>,
    pub(crate) relays: BTreeMap<RelayId, Relay>,
    pub(crate) next_relay: u64,
    pub(crate) ending: Option<Ending>,
}

impl Call {
    pub(crate) fn leg(&self, side: Side) -> &Leg {
        &self.legs[side as usize]
    }

    pub(crate) fn leg_mut(&mut self, side: Side) -> &mut Leg {
        &mut self.legs[side as usize]
    }

    /// The call's first INVITE, while it is being relayed.
    pub(crate) fn initial_relay(&self) -> Option<RelayId> {
        self.relays
            .iter()
            .find(|(_, relay)| relay.initial)
            .map(|(id, _)| *id)
    }

    /// Records the first reason the call ends; later ones do not overwrite it.
    pub(crate) fn end_with(
        &mut self,
        final_status: u16,
        outcome: Outcome,
        ended_by: EndedBy,
        reason: impl Into<String>,
    ) {
        if self.ending.is_none() {
            self.ending = Some(Ending {
                final_status,
                outcome,
                ended_by,
                reason: reason.into(),
            });
        }
    }

    /// Whether both legs are over.
    pub(crate) fn is_over(&self) -> bool {
        self.legs
            .iter()
            .all(|leg| leg.state == LegState::Terminated)
    }

    pub(crate) fn status(&self) -> CallStatus {
        CallStatus {
            tag: self.tag.clone(),
            route: self.route.clone(),
            started_at: self.started_at,
            answered_at: self.answered_at,
            turn: self.turn.clone(),
            legs: [self.legs[0].status(), self.legs[1].status()],
        }
    }
}
