//! A call: two legs, the requests being relayed between them, and how it is ending; and the
//! bridging function that maps what happens on one leg onto the other, one phase of a call per
//! file.
//!
//! Every call handler takes the call out of the table, works on it, puts it back and moves it
//! to history once both legs are over ([`B2bua::finish_if_over`]).

mod ack;
mod cancel;
pub(crate) use cancel::cancel_for;
mod hangup;
mod in_dialog;
mod reliable;
mod responses;
mod session_timer;
mod setup;
mod timers;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use self::reliable::ReliableSender;
use self::session_timer::SessionTimer;
use super::B2bua;
use super::anchor::Anchor;
use super::lync_leg::LyncMedia;
use crate::config::{HeaderPolicy, SessionTimerPolicy};
use crate::dialog::Dialog;
use crate::event::Event;
use crate::hop::Hop;
use crate::sip::{HeaderName, Message, Method, Parsed, ReplyTo, Request, StatusCode};
use crate::status::{
    Admission, CallStatus, DestinationAttempt, EndedBy, LegState, LegStatus, Outcome, Side,
    TurnDecision,
};
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
    /// How the leg's INVITE came (A) or went (B): the fallback next hop of in-dialog
    /// requests.
    pub(crate) hop: Hop,
    /// On a UDP leg whose destination also takes TCP: the TCP listener a request over 1,300
    /// bytes goes from (RFC 3261 §18.1.1).
    pub(crate) large_over: Option<SocketAddr>,
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
    /// What the BYE that ended the other leg said of why (Reason, RFC 3326, and Lync's
    /// ms-diagnostics), carried on this leg's BYE.
    pub(crate) bye_carries: Vec<(HeaderName, String)>,
    /// The leg's session timer (RFC 4028), once negotiated.
    pub(crate) session: Option<SessionTimer>,
    /// TwoLeg's own refresh (UPDATE) is under way on this leg.
    pub(crate) refresh_pending: bool,
    /// Reliable provisionals TwoLeg sends on this leg (leg A).
    pub(crate) reliable: ReliableSender,
    /// The last RSeq of a reliable provisional each callee fork sent (leg B, by To-tag),
    /// PRACKed.
    pub(crate) peer_rseqs: Vec<(String, u32)>,
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
            transport: self.hop.transport,
            peer: self.hop.peer,
            local: self.hop.local,
            final_status: self.final_status,
        }
    }
}

/// A 2xx to an INVITE, retransmitted until its ACK arrives (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(crate) struct AwaitAck {
    pub(crate) cseq: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) hop: Hop,
    pub(crate) interval: Duration,
    /// The ACK for the other leg's 2xx, held until this ACK brings the SDP answer (late offer).
    pub(crate) held_ack: Option<HeldAck>,
}

/// An ACK TwoLeg owes the other leg, waiting for the SDP answer.
#[derive(Debug)]
pub(crate) struct HeldAck {
    pub(crate) side: Side,
    pub(crate) cseq: u32,
    /// The offer of the 2xx it acknowledges, as that leg's peer sent it: declined in the ACK
    /// when the answer never comes.
    pub(crate) offer: Vec<u8>,
}

/// What an ACK TwoLeg sends for a 2xx carries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AckBody<'a> {
    /// Nothing: the INVITE had the offer, the 2xx the answer.
    Empty,
    /// The other leg's ACK, with the answer to the 2xx's offer (late offer), and that offer.
    AnswerOf(&'a Parsed, &'a [u8]),
    /// An answer declining every stream of this offer (the 2xx's): the answer never came.
    Decline(&'a [u8]),
}

/// An ACK as sent.
#[derive(Debug)]
pub(crate) struct SentAck {
    pub(crate) cseq: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) hop: Hop,
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
    /// The CSeq number of the received request (its ACK carries it too).
    pub(crate) server_cseq: u32,
    pub(crate) reply: ReplyTo,
    /// The received request carried a body (an SDP offer, for an INVITE).
    pub(crate) server_had_body: bool,
    /// The request as sent, for building its CANCEL.
    pub(crate) client_request: Request,
    /// The client transaction of the relayed request.
    pub(crate) client_tx: TxId,
    pub(crate) client_hop: Hop,
    pub(crate) got_provisional: bool,
    /// The re-INVITE no-answer timer is armed.
    pub(crate) no_answer_armed: bool,
    pub(crate) cancel: CancelState,
    /// What the CANCEL received for this request said of why, carried on the CANCEL sent.
    pub(crate) cancel_carries: Vec<(HeaderName, String)>,
}

/// The headers that say why a dialog or request ends (Reason, RFC 3326, and Lync's
/// ms-diagnostics), as a request carried them: they travel on to the other leg.
pub(crate) fn why_headers(headers: &crate::sip::Headers) -> Vec<(HeaderName, String)> {
    [HeaderName::REASON, HeaderName::MS_DIAGNOSTICS]
        .into_iter()
        .flat_map(|name| {
            headers
                .get_all(&name)
                .map(|value| (name.clone(), value.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How the call ended, decided by the first thing that ended it.
#[derive(Clone, Debug)]
pub(crate) struct Ending {
    /// The final status the caller got.
    pub(crate) final_status: StatusCode,
    pub(crate) outcome: Outcome,
    pub(crate) ended_by: EndedBy,
    pub(crate) reason: String,
}

impl Ending {
    pub(crate) fn new(
        final_status: StatusCode,
        outcome: Outcome,
        ended_by: EndedBy,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            final_status,
            outcome,
            ended_by,
            reason: reason.into(),
        }
    }
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
    /// The call's media, when the encryption B2BUA took it.
    pub(crate) anchor: Option<Anchor>,
    pub(crate) legs: [Leg; 2],
    pub(crate) started_at: Instant,
    pub(crate) answered_at: Option<Instant>,
    pub(crate) relays: BTreeMap<RelayId, Relay>,
    pub(crate) next_relay: u64,
    pub(crate) ending: Option<Ending>,
    /// The session timers the call's legs are held to (the Lync B2BUA's for a Lync call).
    pub(crate) session_policy: SessionTimerPolicy,
    /// Leg B's early dialogs (one per callee fork) until the answer, each with its own early
    /// dialog on leg A.
    pub(crate) forks: Vec<EarlyFork>,
    /// Forks that answered after another one had: their ACK, re-sent when their 2xx is.
    pub(crate) ended_forks: Vec<EndedFork>,
    /// Which unknown headers pass between the legs (the route's policy).
    pub(crate) headers: HeaderPolicy,
    /// Its route, by index (for the route's load).
    pub(crate) route_index: usize,
    /// The listener leg A's INVITE arrived on (by index).
    pub(crate) listener_index: usize,
    /// The destinations leg B's INVITE may still fail over to, in order.
    pub(crate) targets: Vec<SocketAddr>,
    /// The destinations leg B's INVITE went to.
    pub(crate) attempts: Vec<DestinationAttempt>,
    /// How the caller was let in.
    pub(crate) admission: Admission,
}

/// One early dialog of leg B (a callee fork, by its To-tag) and the early dialog TwoLeg made
/// for it on leg A (RFC 3261 §13.2.2.4, §12.1).
#[derive(Clone, Debug)]
pub(crate) struct EarlyFork {
    pub(crate) remote_tag: String,
    pub(crate) remote_target: String,
    pub(crate) route_set: Vec<String>,
    /// TwoLeg's To-tag for it on leg A.
    pub(crate) a_tag: String,
}

/// A fork that answered after the call was answered by another: ACKed and hung up once.
#[derive(Clone, Debug)]
pub(crate) struct EndedFork {
    pub(crate) remote_tag: String,
    pub(crate) ack: Vec<u8>,
    pub(crate) hop: Hop,
}

impl Call {
    /// A tagged provisional (or 2xx) from a callee fork: leg B's dialog is that fork's, and
    /// leg A's local tag the one TwoLeg gave its early dialog there; a new fork gets a new
    /// one (the first keeps leg A's). Returns the new leg A tag when one was made.
    pub(crate) fn follow_fork(
        &mut self,
        remote_tag: &str,
        new_tag: impl FnOnce() -> String,
    ) -> Option<String> {
        let b = &self.legs[Side::B.index()].dialog;
        let (target, routes) = (b.remote_target.clone(), b.route_set.clone());
        if let Some(fork) = self.forks.iter_mut().find(|f| f.remote_tag == remote_tag) {
            fork.remote_target = target;
            fork.route_set = routes;
            let a_tag = fork.a_tag.clone();
            self.legs[Side::A.index()].dialog.local_tag = a_tag;
            return None;
        }
        let made = (!self.forks.is_empty()).then(new_tag);
        let a_tag = made
            .clone()
            .unwrap_or_else(|| self.legs[Side::A.index()].dialog.local_tag.clone());
        self.legs[Side::A.index()].dialog.local_tag = a_tag.clone();
        self.forks.push(EarlyFork {
            remote_tag: remote_tag.to_owned(),
            remote_target: target,
            route_set: routes,
            a_tag,
        });
        made
    }

    /// A request in an early dialog: the legs' dialogs become that fork's (by leg A's To-tag
    /// for a request from the caller, by the fork's own tag for one from the callee).
    pub(crate) fn select_fork(&mut self, side: Side, tag: &str) {
        let fork = match side {
            Side::A => self.forks.iter().find(|f| f.a_tag == tag),
            Side::B => self.forks.iter().find(|f| f.remote_tag == tag),
        };
        let Some(fork) = fork.cloned() else {
            return;
        };
        self.legs[Side::A.index()].dialog.local_tag = fork.a_tag;
        let b = &mut self.legs[Side::B.index()].dialog;
        b.remote_tag = Some(fork.remote_tag);
        b.remote_target = fork.remote_target;
        b.route_set = fork.route_set;
    }
}

impl Call {
    pub(crate) fn leg(&self, side: Side) -> &Leg {
        &self.legs[side.index()]
    }

    pub(crate) fn leg_mut(&mut self, side: Side) -> &mut Leg {
        &mut self.legs[side.index()]
    }

    /// The call's first INVITE, while it is being relayed.
    pub(crate) fn initial_relay(&self) -> Option<RelayId> {
        self.relays
            .iter()
            .find(|(_, relay)| relay.initial)
            .map(|(id, _)| *id)
    }

    /// Records the first reason the call ends; later ones do not overwrite it.
    pub(crate) fn end_with(&mut self, ending: Ending) {
        if self.ending.is_none() {
            self.ending = Some(ending);
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
            media: self.anchor.as_ref().map(Anchor::status),
            attempts: self.attempts.clone(),
            admission: Some(self.admission.clone()),
        }
    }
}

impl B2bua {
    /// Runs `f` on a call taken out of the table, then puts it back (or into history).
    pub(crate) fn with_call(&mut self, id: CallId, f: impl FnOnce(&mut Self, &mut Call)) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        f(self, &mut call);
        self.calls.insert(id, call);
        self.finish_if_over(id);
    }

    pub(crate) fn set_leg_state(&mut self, call: &mut Call, side: Side, state: LegState) {
        let leg = call.leg_mut(side);
        if leg.state == state || leg.state == LegState::Terminated {
            return;
        }
        leg.state = state;
        let tag = call.tag.clone();
        self.emit(Event::LegState { tag, side, state });
    }
}

/// Learns a leg's remote tag, remote target and (for a response that creates the dialog) route
/// set from a response (RFC 3261 §12.1.2: the Record-Route reversed; §12.2.1.2: a target refresh
/// leaves the route set alone).
pub(crate) fn learn_dialog(dialog: &mut Dialog, parsed: &Parsed, creates_dialog: bool) {
    if let Some(tag) = parsed.to.tag() {
        dialog.remote_tag = Some(tag.to_owned());
    }
    if let Some(contact) = parsed.contacts.first() {
        dialog.remote_target = contact.uri.clone();
    }
    let routes: Vec<String> = parsed
        .message
        .headers()
        .get_all(&HeaderName::RECORD_ROUTE)
        .map(str::to_owned)
        .collect();
    // The 2xx sets the route set, empty when it has no Record-Route (RFC 3261 §12.1.2,
    // §13.2.2.4); an early dialog's provisional only when it has one.
    let answer = matches!(&parsed.message, Message::Response(r) if r.status.is_success());
    if creates_dialog && (answer || !routes.is_empty()) {
        dialog.route_set = routes.into_iter().rev().collect();
    }
}
