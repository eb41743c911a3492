//! Ending a call: BYE from either side, BYE TwoLeg sends (held until the ACK when needed),
//! teardown and disconnect.

use super::{AckBody, Call, CallId, Ending, RelayId, why_headers};
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::sip::{HeaderName, Method, Parsed, ReplyTo, StatusCode};
use crate::status::{EndedBy, LegState, Outcome, Side};
use crate::transaction::TxId;

impl B2bua {
    pub(crate) fn on_bye(
        &mut self,
        call: &mut Call,
        side: Side,
        tx: TxId,
        reply: &ReplyTo,
        parsed: &Parsed,
    ) {
        let id = call.id;
        let ok = reply.response(StatusCode::OK, "OK", None);
        self.respond(tx, &ok);
        // A BYE before the ACK (RFC 3261 §15): the other leg's 2xx still gets its ACK.
        if let Some(held) = call
            .leg_mut(side)
            .awaiting_ack
            .take()
            .and_then(|a| a.held_ack)
        {
            let _ = self.send_ack(call, held.side, held.cseq, AckBody::Decline(&held.offer));
        }
        self.cancel_call_timer(id, CallTimer::Retransmit2xx(side));
        self.cancel_call_timer(id, CallTimer::AckTimeout(side));
        // Requests still pending on this dialog get 487 (RFC 3261 §15.1.2).
        let pending: Vec<RelayId> = call
            .relays
            .iter()
            .filter(|(_, r)| !r.initial)
            .map(|(id, _)| *id)
            .collect();
        for relay in pending {
            if let Some(relay) = call.relays.remove(&relay) {
                let tag = call.leg(relay.server_side).dialog.local_tag.clone();
                self.terminate_server_side(&relay, StatusCode::REQUEST_TERMINATED, &tag);
            }
        }
        let who = match side {
            Side::A => EndedBy::Caller,
            Side::B => EndedBy::Callee,
        };
        let mut reason = format!(
            "BYE from {}",
            if side == Side::A { "caller" } else { "callee" }
        );
        if let Some(header) = parsed.message.headers().get(&HeaderName::REASON) {
            reason = format!("{reason} ({header})");
        }
        if let Some(initial) = call.initial_relay() {
            // BYE before the answer: the caller gives up, or the callee refuses.
            match side {
                Side::A => self.cancel_relay_in(
                    call,
                    initial,
                    Ending::new(
                        StatusCode::REQUEST_TERMINATED,
                        Outcome::Cancelled,
                        who,
                        reason,
                    ),
                ),
                Side::B => {
                    if let Some(relay) = call.relays.remove(&initial) {
                        let tag = call.leg(relay.server_side).dialog.local_tag.clone();
                        self.terminate_server_side(
                            &relay,
                            StatusCode::TEMPORARILY_UNAVAILABLE,
                            &tag,
                        );
                    }
                    call.end_with(Ending::new(
                        StatusCode::TEMPORARILY_UNAVAILABLE,
                        Outcome::Rejected,
                        who,
                        reason,
                    ));
                    self.set_leg_state(call, Side::A, LegState::Terminated);
                }
            }
            self.set_leg_state(call, side, LegState::Terminated);
            return;
        }
        call.end_with(Ending::new(StatusCode::OK, Outcome::Completed, who, reason));
        self.set_leg_state(call, side, LegState::Terminated);
        call.leg_mut(side.other()).bye_carries = why_headers(parsed.message.headers());
        self.hang_up(call, side.other(), None);
    }

    /// Sends BYE on a leg, or holds it until the leg's ACK arrives (RFC 3261 §15).
    pub(crate) fn hang_up(&mut self, call: &mut Call, side: Side, reason: Option<&str>) {
        let leg = call.leg_mut(side);
        if leg.state == LegState::Terminated || leg.bye_sent {
            return;
        }
        if leg.awaiting_ack.is_some() {
            leg.bye_held = true;
            return;
        }
        self.send_bye(call, side, reason);
    }

    pub(crate) fn send_bye(&mut self, call: &mut Call, side: Side, reason: Option<&str>) {
        let id = call.id;
        let max_forwards = self.config.max_forwards();
        let hop = self.leg_hop(call, side);
        let leg = call.leg_mut(side);
        leg.bye_sent = true;
        leg.bye_held = false;
        let mut bye = leg
            .dialog
            .request(Method::BYE, None, &hop, max_forwards, &mut self.rng);
        if let Some(reason) = reason {
            bye.headers.push(HeaderName::REASON, reason);
        }
        for (name, value) in &leg.bye_carries {
            bye.headers.push(name.clone(), value.clone());
        }
        let large_over = leg.large_over;
        let _ = self.send_fitting(Owner::Bye(id, side), &mut bye, hop, large_over);
        self.set_leg_state(call, side, LegState::Terminated);
    }

    /// Ends an answered call from TwoLeg's side: BYE on both legs.
    pub(crate) fn tear_down(&mut self, call: &mut Call, status: u16, reason: String) {
        let header = format!("SIP;cause={status};text=\"{reason}\"");
        call.end_with(Ending::new(
            StatusCode::OK,
            Outcome::TimedOut,
            EndedBy::B2bua,
            reason,
        ));
        for side in [Side::A, Side::B] {
            self.hang_up(call, side, Some(&header));
        }
    }

    /// Disconnect from outside: CANCEL (and 487) before the answer, BYE on both legs after it.
    pub(crate) fn disconnect_call(&mut self, id: CallId) {
        self.with_call(id, |this, call| {
            let reason = "disconnected by the operator";
            if let Some(initial) = call.initial_relay() {
                this.cancel_relay_in(
                    call,
                    initial,
                    Ending::new(
                        StatusCode::REQUEST_TERMINATED,
                        Outcome::Disconnected,
                        EndedBy::B2bua,
                        reason,
                    ),
                );
                return;
            }
            call.end_with(Ending::new(
                StatusCode::OK,
                Outcome::Disconnected,
                EndedBy::B2bua,
                reason,
            ));
            let header = "SIP;cause=200;text=\"Call disconnected\"";
            for side in [Side::A, Side::B] {
                this.hang_up(call, side, Some(header));
            }
        });
    }
}
