//! CANCEL of a relayed INVITE (RFC 3261 §9.1): sent at once after a provisional, deferred
//! before one.

use super::{Call, CallId, CancelState, Ending, RelayId};
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::sip::{HeaderName, Method, Request, StatusCode};
use crate::status::{EndedBy, LegState, Outcome};

impl B2bua {
    /// CANCEL from the caller (or a disconnect, or the ring timeout) for a relayed INVITE.
    pub(crate) fn cancel_relay(
        &mut self,
        id: CallId,
        relay_id: RelayId,
        reason: &str,
        carries: Vec<(HeaderName, String)>,
    ) {
        self.with_call(id, |this, call| {
            if let Some(relay) = call.relays.get_mut(&relay_id) {
                relay.cancel_carries = carries;
            }
            this.cancel_relay_in(
                call,
                relay_id,
                Ending::new(
                    StatusCode::REQUEST_TERMINATED,
                    Outcome::Cancelled,
                    EndedBy::Caller,
                    reason,
                ),
            );
        });
    }

    pub(crate) fn cancel_relay_in(&mut self, call: &mut Call, relay_id: RelayId, ending: Ending) {
        let id = call.id;
        let held = call.invite_held();
        let Some(relay) = call.relays.get_mut(&relay_id) else {
            return;
        };
        if relay.cancel != CancelState::None {
            return;
        }
        let server_side = relay.server_side;
        let client_side = server_side.other();
        let initial = relay.initial;
        let held = initial && held;
        if held {
            // The INVITE never went out: there is nothing to cancel on the other leg.
            relay.cancel = CancelState::Sent;
        } else if relay.got_provisional {
            relay.cancel = CancelState::Sent;
            let cancel = cancel_for(&relay.client_request, &relay.cancel_carries);
            let hop = relay.client_hop;
            self.send_request(Owner::Call(id), &cancel, hop);
            self.set_call_timer(id, CallTimer::CancelTimeout(relay_id), self.timing.t1x64());
        } else {
            relay.cancel = CancelState::Pending;
        }
        let Some(relay) = call.relays.get(&relay_id) else {
            return;
        };
        let status = ending.final_status;
        let response = relay.reply.response(
            status,
            status.reason(),
            Some(&call.leg(server_side).dialog.local_tag),
        );
        let server_tx = relay.server_tx;
        self.respond(server_tx, &response);
        if initial {
            self.end_provisionals(id, call);
            call.leg_mut(server_side).final_status = Some(status.code());
            call.end_with(ending);
            self.set_leg_state(call, server_side, LegState::Terminated);
            self.cancel_call_timer(id, CallTimer::RingTimeout);
        }
        if held {
            call.relays.remove(&relay_id);
            self.set_leg_state(call, client_side, LegState::Terminated);
        }
    }
}

/// The CANCEL of a request TwoLeg sent (RFC 3261 §9.1): same Request-URI, Call-ID, From, To,
/// CSeq number, top Via and Route; with `carries` (Reason, ms-diagnostics) from the CANCEL that
/// caused it.
pub(crate) fn cancel_for(request: &Request, carries: &[(HeaderName, String)]) -> Request {
    let mut cancel = Request {
        method: Method::CANCEL,
        uri: request.uri.clone(),
        headers: crate::sip::Headers::new(),
        body: Vec::new(),
    };
    let get = |name: &HeaderName| request.headers.get(name).unwrap_or_default().to_owned();
    cancel.headers.push(HeaderName::VIA, get(&HeaderName::VIA));
    cancel.headers.push(HeaderName::MAX_FORWARDS, "70");
    for route in request.headers.get_all(&HeaderName::ROUTE) {
        cancel.headers.push(HeaderName::ROUTE, route);
    }
    cancel
        .headers
        .push(HeaderName::FROM, get(&HeaderName::FROM));
    cancel.headers.push(HeaderName::TO, get(&HeaderName::TO));
    cancel
        .headers
        .push(HeaderName::CALL_ID, get(&HeaderName::CALL_ID));
    let number = get(&HeaderName::CSEQ)
        .split(' ')
        .next()
        .unwrap_or("1")
        .to_owned();
    cancel
        .headers
        .push(HeaderName::CSEQ, format!("{number} CANCEL"));
    for (name, value) in carries {
        cancel.headers.push(name.clone(), value.clone());
    }
    cancel
}
