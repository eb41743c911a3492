//! The call's own deadlines (as opposed to its transactions').

use super::{AckBody, CallId, Ending};
use crate::engine::B2bua;
use crate::engine::destinations::Failure;
use crate::engine::timers::CallTimer;
use crate::sip::StatusCode;
use crate::status::{EndedBy, LegState, Outcome};

impl B2bua {
    pub(crate) fn on_call_timer(&mut self, id: CallId, timer: CallTimer) {
        self.with_call(id, |this, call| match timer {
            CallTimer::Retransmit2xx(side) => {
                let t2 = this.timing.t2;
                let leg = call.leg_mut(side);
                let Some(awaiting) = &mut leg.awaiting_ack else {
                    return;
                };
                awaiting.interval = (awaiting.interval * 2).min(t2);
                let (hop, bytes, interval) =
                    (awaiting.hop, awaiting.bytes.clone(), awaiting.interval);
                this.retransmit(&hop, bytes);
                this.set_call_timer(id, CallTimer::Retransmit2xx(side), interval);
            }
            CallTimer::AckTimeout(side) => {
                this.cancel_call_timer(id, CallTimer::Retransmit2xx(side));
                let Some(awaiting) = call.leg_mut(side).awaiting_ack.take() else {
                    return;
                };
                if let Some(held) = awaiting.held_ack {
                    let _ =
                        this.send_ack(call, held.side, held.cseq, AckBody::Decline(&held.offer));
                }
                let header = "SIP;cause=408;text=\"ACK timeout\"";
                if call.leg(side).bye_held {
                    this.send_bye(call, side, Some(header));
                    return;
                }
                call.end_with(Ending::new(
                    StatusCode::OK,
                    Outcome::TimedOut,
                    EndedBy::B2bua,
                    "no ACK for the 2xx (64*T1)",
                ));
                this.send_bye(call, side, Some(header));
                this.hang_up(call, side.other(), Some(header));
            }
            CallTimer::CancelTimeout(relay_id) => {
                // RFC 3261 §9.1: no final response 64*T1 after the CANCEL: the INVITE client
                // transaction is considered cancelled and destroyed.
                let Some(relay) = call.relays.remove(&relay_id) else {
                    return;
                };
                this.forget_tx(relay.client_tx);
                let client_side = relay.server_side.other();
                if relay.initial {
                    call.leg_mut(client_side).final_status.get_or_insert(487);
                    this.set_leg_state(call, client_side, LegState::Terminated);
                }
            }
            CallTimer::RelayNoAnswer(relay_id) => {
                // Not 408: a peer hearing 408 to a re-INVITE ends the dialog (RFC 3261
                // §12.2.1.2), which is alive; 500 leaves it as it was.
                this.cancel_relay_in(
                    call,
                    relay_id,
                    Ending::new(
                        StatusCode::SERVER_INTERNAL_ERROR,
                        Outcome::TimedOut,
                        EndedBy::B2bua,
                        "re-INVITE got no final response",
                    ),
                );
            }
            CallTimer::Failover(relay_id) => {
                let _ = this.fail_over(call, relay_id, Failure::NoAnswer);
            }
            CallTimer::TurnGiveUp => this.on_turn_give_up(call),
            CallTimer::TurnRefresh => this.on_turn_refresh(call),
            CallTimer::MediaTimeout => this.on_media_timeout(call),
            CallTimer::Retransmit1xx => this.on_retransmit_1xx(call),
            CallTimer::SessionRefresh(side) => this.on_session_refresh(call, side),
            CallTimer::SessionExpiry(side) => this.on_session_expiry(call, side),
            CallTimer::RingTimeout => {
                if let Some(initial) = call.initial_relay() {
                    this.cancel_relay_in(
                        call,
                        initial,
                        Ending::new(
                            StatusCode::TEMPORARILY_UNAVAILABLE,
                            Outcome::TimedOut,
                            EndedBy::B2bua,
                            "no answer (ring timeout)",
                        ),
                    );
                }
            }
        });
    }
}
