//! Requests inside a leg's dialog, relayed to the other leg (re-INVITE, UPDATE, INFO), with the
//! CSeq, glare and pending-request rules.

use rand::Rng;

use super::{Call, CallId, CancelState, Relay, RelayId, session_timer};
use crate::engine::anchor::{SdpRole, is_sdp, warning};
use crate::engine::pass_through::{advertise_allow, copy_payload};
use crate::engine::{B2bua, Owner};
use crate::event::Refusal;
use crate::sip::{HeaderName, Message, Method, Parsed, ReplyTo, StatusCode};
use crate::status::{LegState, Side};
use crate::transaction::TxId;

impl B2bua {
    /// A request inside a leg's dialog (not ACK, not CANCEL).
    pub(crate) fn on_dialog_request(
        &mut self,
        id: CallId,
        side: Side,
        tx: TxId,
        reply: ReplyTo,
        parsed: Parsed,
    ) {
        self.set_owner(tx, Owner::Call(id));
        self.with_call(id, |this, call| {
            // In an early dialog: the legs' dialogs are those of the fork it belongs to.
            let fork_tag = match side {
                Side::A => parsed.to.tag(),
                Side::B => parsed.from.tag(),
            };
            if let Some(tag) = fork_tag.filter(|_| !call.forks.is_empty()) {
                call.select_fork(side, tag);
            }
            let call_forks = call.forks.len();
            let leg = call.leg_mut(side);
            // A confirmed dialog is its Call-ID and both tags (RFC 3261 §12): a request from
            // another fork of the same INVITE is not in it.
            if leg.state == LegState::Confirmed
                && leg.dialog.remote_tag.as_deref() != parsed.from.tag()
            {
                let status = StatusCode::CALL_DOES_NOT_EXIST;
                let response = reply.response(status, status.reason(), None);
                let method = parsed.cseq.method.clone();
                this.refuse(tx, &response, reply.address, &method, Refusal::NoSuchDialog);
                return;
            }
            // Each early dialog has a CSeq space of its own (RFC 3261 §12.1.2): with several
            // forks early, the order is not checked across them.
            let shared_early = leg.state != LegState::Confirmed && call_forks > 1;
            if let Some(last) = leg.dialog.remote_cseq
                && parsed.cseq.number <= last
                && !shared_early
            {
                let status = StatusCode::SERVER_INTERNAL_ERROR;
                let response = reply.response(status, "CSeq out of order", None);
                this.respond(tx, &response);
                return;
            }
            leg.dialog.remote_cseq = Some(parsed.cseq.number);
            if parsed.cseq.method == Method::BYE {
                this.on_bye(call, side, tx, &reply, &parsed);
            } else if parsed.cseq.method == Method::PRACK {
                this.on_prack(call, side, tx, &reply, &parsed);
            } else {
                this.relay_in_dialog(call, side, tx, reply, &parsed);
            }
        });
    }

    pub(crate) fn relay_in_dialog(
        &mut self,
        call: &mut Call,
        side: Side,
        tx: TxId,
        reply: ReplyTo,
        parsed: &Parsed,
    ) {
        let id = call.id;
        let Message::Request(request) = &parsed.message else {
            return;
        };
        let other = side.other();
        let refuse = |this: &mut Self, status: StatusCode| {
            let response = reply.response(status, status.reason(), None);
            this.respond(tx, &response);
        };
        if call.leg(other).state == LegState::Terminated
            || call.leg(side).state == LegState::Terminated
        {
            refuse(self, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        if request.method == Method::INVITE {
            // RFC 3261 §14.2: a second INVITE from the same side before the first is answered
            // gets 500 with Retry-After; crossing INVITEs (glare) get 491.
            if call
                .relays
                .values()
                .any(|r| r.method == Method::INVITE && r.server_side == side)
            {
                let mut response = reply.response(
                    StatusCode::SERVER_INTERNAL_ERROR,
                    "Previous INVITE pending",
                    None,
                );
                // §14.2: "a randomly chosen value of between 0 and 10 seconds".
                let retry_after: u32 = self.rng.random_range(0..=10);
                response
                    .headers
                    .push(HeaderName::RETRY_AFTER, retry_after.to_string());
                self.respond(tx, &response);
                return;
            }
            let invite_pending = call.relays.values().any(|r| r.method == Method::INVITE)
                || call.legs.iter().any(|l| l.awaiting_ack.is_some());
            if invite_pending {
                refuse(self, StatusCode::REQUEST_PENDING);
                return;
            }
            let trying = reply.response(StatusCode::TRYING, "Trying", None);
            self.respond(tx, &trying);
        }
        if request.method == Method::UPDATE {
            // RFC 3311 §5.2: an UPDATE crossing TwoLeg's own refresh on this leg, or crossing
            // an UPDATE with an offer relayed the other way, gets 491.
            let crossing = call.leg(side).refresh_pending
                || is_sdp(&request.headers, &request.body)
                    && call.relays.values().any(|r| {
                        r.method == Method::UPDATE && r.server_side == other && r.server_had_body
                    });
            if crossing {
                refuse(self, StatusCode::REQUEST_PENDING);
                return;
            }
        }
        if matches!(request.method, Method::INVITE | Method::UPDATE) {
            // A refresh may name a new interval and refresher for its leg (RFC 4028 §9).
            let asked = session_timer::said(&request.headers);
            let allows_update = session_timer::allows_update(&request.headers);
            match session_timer::for_caller(&asked, allows_update, call.session_policy) {
                Ok(session) => call.leg_mut(side).session = session,
                Err(min) => {
                    let status = StatusCode::SESSION_INTERVAL_TOO_SMALL;
                    let mut response = reply.response(status, status.reason(), None);
                    response.headers.push(HeaderName::MIN_SE, min.to_string());
                    self.respond(tx, &response);
                    return;
                }
            }
        }
        if matches!(request.method, Method::INVITE | Method::UPDATE)
            && let Some(contact) = parsed.contacts.first()
        {
            call.leg_mut(side).dialog.remote_target = contact.uri.clone();
        }
        let max_forwards = parsed
            .max_forwards
            .map_or_else(|| self.config.max_forwards(), |mf| mf.saturating_sub(1));
        let leg_hop = self.leg_hop(call, other);
        let policy = call.headers.clone();
        let leg = call.leg_mut(other);
        let mut out = leg.dialog.request(
            request.method.clone(),
            None,
            &leg_hop,
            max_forwards,
            &mut self.rng,
        );
        copy_payload(
            &request.headers,
            &request.body,
            &mut out.headers,
            &mut out.body,
            &policy,
        );
        if matches!(request.method, Method::INVITE | Method::UPDATE) {
            advertise_allow(&request.headers, &mut out.headers);
            if let Some(timer) = leg.session {
                session_timer::write(&mut out.headers, &timer, true);
            }
        }
        let (hop, large_over) = (leg_hop, leg.large_over);
        if matches!(request.method, Method::INVITE | Method::UPDATE)
            && is_sdp(&request.headers, &request.body)
            && let Some(anchor) = call.anchor.as_mut()
        {
            match self.anchor_body(&call.tag, anchor, side, SdpRole::Offer, &request.body) {
                Ok(body) => out.body = body,
                Err(violation) => {
                    let status = StatusCode::new(violation.status())
                        .unwrap_or(StatusCode::NOT_ACCEPTABLE_HERE);
                    let mut response = reply.response(status, status.reason(), None);
                    response
                        .headers
                        .push(HeaderName::WARNING, warning(&violation));
                    self.respond(tx, &response);
                    return;
                }
            }
        }
        call.offer_candidates(other, &mut out.body);
        self.learn_lync_peers(call, side, &request.body);
        let relay_id = RelayId(call.next_relay);
        call.next_relay += 1;
        let (client_tx, hop) =
            self.send_fitting(Owner::Relay(id, relay_id), &mut out, hop, large_over);
        self.set_owner(tx, Owner::Relay(id, relay_id));
        call.relays.insert(
            relay_id,
            Relay {
                method: request.method.clone(),
                initial: false,
                server_side: side,
                server_tx: tx,
                server_cseq: parsed.cseq.number,
                reply,
                server_had_body: !request.body.is_empty(),
                client_request: out,
                client_tx,
                client_hop: hop,
                got_provisional: false,
                no_answer_armed: false,
                cancel: CancelState::None,
                cancel_carries: Vec::new(),
            },
        );
    }
}
