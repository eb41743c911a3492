//! Responses to relayed requests, mapped onto the other leg: provisional, success, failure, and
//! the client transaction timing out.

use super::cancel::cancel_for;
use super::{
    AckBody, AwaitAck, Call, CallId, CancelState, Ending, HeldAck, Relay, RelayId, learn_dialog,
};
use super::{reliable, session_timer};
use crate::engine::anchor::{SdpRole, is_sdp, warning};
use crate::engine::destinations::Failure;
use crate::engine::pass_through::{advertise_allow, copy_payload};
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::hop::Hop;
use crate::ids;
use crate::media::PolicyViolation;
use crate::sip::{HeaderName, Message, Method, Parsed, Request, Response, StatusCode};
use crate::status::{EndedBy, LegState, Outcome, Side};
use crate::transaction::DialogKey;

impl B2bua {
    /// A response on the client side of a relayed request.
    pub(crate) fn on_relay_response(&mut self, id: CallId, relay_id: RelayId, parsed: &Parsed) {
        self.with_call(id, |this, call| {
            this.on_relay_response_in(call, relay_id, parsed)
        });
    }

    /// [`Self::on_relay_response`] on a call already in hand.
    pub(crate) fn on_relay_response_in(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        parsed: &Parsed,
    ) {
        let Message::Response(response) = &parsed.message else {
            return;
        };
        let Some(relay) = call.relays.get(&relay_id) else {
            // The relay is done: a retransmitted 2xx (re-ACK it) or a forked one (ACK + BYE).
            if response.status.is_success() && parsed.cseq.method == Method::INVITE {
                self.on_late_2xx(call, parsed);
            }
            return;
        };
        let (client_side, initial) = (relay.server_side.other(), relay.initial);
        let status = response.status;
        if initial {
            // The destination is alive: no failing over for want of an answer.
            self.cancel_call_timer(call.id, CallTimer::Failover(relay_id));
        }
        if initial && status.is_success() && call.leg(Side::A).reliable.holds_2xx() {
            // RFC 3262 §3: not before the PRACK of the provisional with SDP (a retransmission
            // of the held 2xx waits with it).
            let held = &mut call.leg_mut(Side::A).reliable.held_2xx;
            if held.is_none() {
                *held = Some((relay_id, Box::new(parsed.clone())));
            }
            return;
        }
        if !response.body.is_empty() {
            self.learn_lync_peers(call, client_side, &response.body);
        }
        if status.is_provisional() {
            self.on_relay_provisional(call, relay_id, parsed, response);
        } else if status.is_success() {
            if initial {
                self.end_provisionals(call.id, call);
            }
            self.on_relay_success(call, relay_id, parsed, response);
        } else {
            if initial {
                self.end_provisionals(call.id, call);
            }
            self.on_relay_failure(call, relay_id, response);
        }
    }

    pub(crate) fn on_relay_provisional(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        parsed: &Parsed,
        response: &Response,
    ) {
        let id = call.id;
        let Some(relay) = call.relays.get_mut(&relay_id) else {
            return;
        };
        relay.got_provisional = true;
        let client_side = relay.server_side.other();
        let initial = relay.initial;
        if relay.cancel == CancelState::Pending {
            relay.cancel = CancelState::Sent;
            let cancel = cancel_for(&relay.client_request, &relay.cancel_carries);
            let hop = relay.client_hop;
            self.send_request(Owner::Call(id), &cancel, hop);
            self.set_call_timer(id, CallTimer::CancelTimeout(relay_id), self.timing.t1x64());
            return;
        }
        if !relay.initial && relay.method == Method::INVITE && !relay.no_answer_armed {
            relay.no_answer_armed = true;
            self.set_call_timer(id, CallTimer::RelayNoAnswer(relay_id), self.timing.t1x64());
        }
        if relay.cancel == CancelState::Sent || response.status == StatusCode::TRYING {
            // 100 Trying is hop-by-hop: it allows a CANCEL but is never relayed.
            return;
        }
        if initial && let Some(tag) = parsed.to.tag() {
            learn_dialog(&mut call.leg_mut(client_side).dialog, parsed, true);
            // Each callee fork gets its own early dialog on leg A (RFC 3261 §12.1).
            let a_call_id = call.leg(Side::A).dialog.call_id.clone();
            if let Some(a_tag) = call.follow_fork(tag, || ids::tag(&mut self.rng)) {
                self.dialogs
                    .insert(DialogKey::new(&a_call_id, &a_tag), (id, Side::A));
            }
            if let Some(rseq) = reliable::rseq_of(&response.headers)
                && !self.prack_callee(call, parsed, tag, rseq)
            {
                // A retransmission of a reliable provisional: PRACKed and relayed already.
                return;
            }
            self.set_leg_state(call, client_side, LegState::Early);
        }
        let Some(relay) = call.relays.get(&relay_id) else {
            return;
        };
        let server_side = relay.server_side;
        let (method, had_body) = (relay.method.clone(), relay.server_had_body);
        let mut out = self.relayed_response(call, relay, response);
        let server_tx = relay.server_tx;
        match self.anchor_response(call, server_side, &method, had_body, response) {
            Ok(Some(body)) => {
                out.body = body;
                call.offer_candidates(server_side, &mut out.body);
            }
            Ok(None) => {}
            Err(violation) if initial => {
                let reason = format!("media encryption policy: {violation}");
                let ending = Ending::new(
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    Outcome::Rejected,
                    EndedBy::B2bua,
                    reason,
                );
                self.cancel_relay_in(call, relay_id, ending);
                return;
            }
            // A provisional to a re-INVITE: relayed without its SDP; the final answer decides.
            Err(_) => out.body.clear(),
        }
        if initial {
            self.send_provisional(call, server_tx, out);
        } else {
            self.respond(server_tx, &out);
        }
        if initial {
            self.set_leg_state(call, server_side, LegState::Early);
        }
    }

    pub(crate) fn on_relay_success(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        parsed: &Parsed,
        response: &Response,
    ) {
        let id = call.id;
        let Some(relay) = call.relays.remove(&relay_id) else {
            return;
        };
        self.cancel_call_timer(id, CallTimer::CancelTimeout(relay_id));
        self.cancel_call_timer(id, CallTimer::RelayNoAnswer(relay_id));
        let client_side = relay.server_side.other();
        let server_side = relay.server_side;
        if relay.method != Method::INVITE {
            if relay.method == Method::UPDATE {
                if let Some(contact) = parsed.contacts.first() {
                    // The UPDATE's 2xx is a target refresh too (RFC 3311 §5.1).
                    call.leg_mut(client_side).dialog.remote_target = contact.uri.clone();
                }
                self.sessions_refreshed(call, client_side, response);
            }
            let out = self.relayed_response(call, &relay, response);
            self.respond(relay.server_tx, &out);
            return;
        }
        learn_dialog(&mut call.leg_mut(client_side).dialog, parsed, relay.initial);
        if relay.initial
            && let Some(tag) = parsed.to.tag()
        {
            // The answering fork's early dialog on leg A is the one confirmed; the others end.
            let a_call_id = call.leg(Side::A).dialog.call_id.clone();
            if let Some(a_tag) = call.follow_fork(tag, || ids::tag(&mut self.rng)) {
                self.dialogs
                    .insert(DialogKey::new(&a_call_id, &a_tag), (id, Side::A));
            }
            let winner = call.leg(Side::A).dialog.local_tag.clone();
            for fork in std::mem::take(&mut call.forks) {
                if fork.a_tag != winner {
                    self.dialogs
                        .remove(&DialogKey::new(&a_call_id, &fork.a_tag));
                }
            }
        }
        let server_open = self
            .txs
            .get(&relay.server_tx)
            .is_some_and(|entry| entry.tx.can_respond());
        if relay.cancel != CancelState::None || !server_open {
            // CANCEL and 200 crossed (RFC 5407): ACK the 200, then hang up that leg; for a
            // re-INVITE the legs no longer agree on the session, so the call ends. An offer in
            // the 200 is declined in the ACK.
            let _ = self.send_ack(
                call,
                client_side,
                parsed.cseq.number,
                late_offer_in(&relay, response),
            );
            if !relay.initial {
                let reason = "re-INVITE cancelled after the other side accepted it".to_owned();
                self.tear_down(call, 487, reason);
                return;
            }
            call.leg_mut(client_side).final_status = Some(response.status.code());
            self.send_bye(
                call,
                client_side,
                Some("SIP;cause=487;text=\"Request Terminated\""),
            );
            return;
        }
        let anchored = match self.anchor_response(
            call,
            server_side,
            &relay.method,
            relay.server_had_body,
            response,
        ) {
            Ok(body) => body,
            Err(violation) => {
                self.refuse_answered(call, &relay, parsed, response, &violation);
                return;
            }
        };
        if relay.initial {
            call.answered_at = Some(self.now);
            self.cancel_call_timer(id, CallTimer::RingTimeout);
            self.arm_media_timeout(call);
            call.leg_mut(client_side).final_status = Some(response.status.code());
            call.leg_mut(server_side).final_status = Some(response.status.code());
            self.set_leg_state(call, client_side, LegState::Confirmed);
            self.set_leg_state(call, server_side, LegState::Confirmed);
        }
        self.sessions_refreshed(call, client_side, response);
        let late_offer = !relay.server_had_body && !response.body.is_empty();
        let mut out = self.relayed_response(call, &relay, response);
        if let Some(body) = anchored {
            out.body = body;
            call.offer_candidates(server_side, &mut out.body);
        }
        let bytes = out.to_bytes();
        self.respond(relay.server_tx, &out);
        call.leg_mut(server_side).awaiting_ack = Some(AwaitAck {
            cseq: relay.server_cseq,
            bytes,
            hop: self
                .txs
                .get(&relay.server_tx)
                .map_or_else(|| call.leg(server_side).hop, |entry| entry.tx.hop),
            interval: self.timing.t1,
            held_ack: late_offer.then(|| HeldAck {
                side: client_side,
                cseq: parsed.cseq.number,
                offer: response.body.clone(),
            }),
        });
        self.set_call_timer(id, CallTimer::Retransmit2xx(server_side), self.timing.t1);
        self.set_call_timer(id, CallTimer::AckTimeout(server_side), self.timing.t1x64());
        if !late_offer {
            let _ = self.send_ack(call, client_side, parsed.cseq.number, AckBody::Empty);
        }
    }

    pub(crate) fn on_relay_failure(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        response: &Response,
    ) {
        let id = call.id;
        if response.status == StatusCode::SESSION_INTERVAL_TOO_SMALL
            && self.retry_with_min_se(call, relay_id, response)
        {
            return;
        }
        if response.status == StatusCode::SERVICE_UNAVAILABLE
            && self.fail_over(
                call,
                relay_id,
                Failure::Unavailable(
                    response
                        .headers
                        .get(&HeaderName::RETRY_AFTER)
                        .and_then(|value| value.split([';', ' ', '(']).next())
                        .and_then(|seconds| seconds.trim().parse().ok()),
                ),
            )
        {
            return;
        }
        let Some(relay) = call.relays.remove(&relay_id) else {
            return;
        };
        self.cancel_call_timer(id, CallTimer::CancelTimeout(relay_id));
        self.cancel_call_timer(id, CallTimer::RelayNoAnswer(relay_id));
        let client_side = relay.server_side.other();
        let code = response.status.code();
        if relay.cancel == CancelState::None {
            let out = self.relayed_response(call, &relay, response);
            self.respond(relay.server_tx, &out);
        }
        if relay.initial {
            call.leg_mut(client_side).final_status = Some(code);
            if call.leg(relay.server_side).final_status.is_none() {
                call.leg_mut(relay.server_side).final_status = Some(code);
            }
            call.end_with(Ending::new(
                response.status,
                Outcome::Rejected,
                EndedBy::Callee,
                format!("callee answered {code} {}", response.reason),
            ));
            self.set_leg_state(call, Side::A, LegState::Terminated);
            self.set_leg_state(call, Side::B, LegState::Terminated);
        } else if relay.method == Method::INVITE && (code == 481 || code == 408) {
            // RFC 6141: 481 or 408 to a re-INVITE ends the dialog.
            self.tear_down(call, code, format!("{code} to a re-INVITE"));
        }
    }

    /// The SDP of a response as it goes on to the server side, when the call's media is
    /// anchored: an answer to the request's offer, or (the request had none) an offer.
    fn anchor_response(
        &mut self,
        call: &mut Call,
        server_side: Side,
        method: &Method,
        server_had_body: bool,
        response: &Response,
    ) -> Result<Option<Vec<u8>>, PolicyViolation> {
        let Some(anchor) = call.anchor.as_mut() else {
            return Ok(None);
        };
        let code = response.status.code();
        if !matches!(method, &Method::INVITE | &Method::UPDATE)
            || !(101..300).contains(&code)
            || !is_sdp(&response.headers, &response.body)
        {
            return Ok(None);
        }
        let role = if server_had_body {
            SdpRole::Answer
        } else {
            SdpRole::Offer
        };
        self.anchor_body(&call.tag, anchor, server_side.other(), role, &response.body)
            .map(Some)
    }

    /// A 2xx whose SDP breaks the media encryption policy: ACK and BYE on its leg, 488 (with a
    /// Warning) on the other; a call not yet answered ends there, an answered one is hung up.
    fn refuse_answered(
        &mut self,
        call: &mut Call,
        relay: &Relay,
        parsed: &Parsed,
        response: &Response,
        violation: &PolicyViolation,
    ) {
        let (server_side, client_side) = (relay.server_side, relay.server_side.other());
        let body = late_offer_in(relay, response);
        let _ = self.send_ack(call, client_side, parsed.cseq.number, body);
        let cause = format!("SIP;cause=488;text=\"{violation}\"");
        let mut out = relay.reply.response(
            StatusCode::NOT_ACCEPTABLE_HERE,
            StatusCode::NOT_ACCEPTABLE_HERE.reason(),
            Some(&call.leg(server_side).dialog.local_tag),
        );
        out.headers.push(HeaderName::WARNING, warning(violation));
        self.respond(relay.server_tx, &out);
        if relay.initial {
            self.cancel_call_timer(call.id, CallTimer::RingTimeout);
            call.leg_mut(client_side).final_status = Some(200);
            call.leg_mut(server_side).final_status = Some(488);
            call.end_with(Ending::new(
                StatusCode::NOT_ACCEPTABLE_HERE,
                Outcome::Rejected,
                EndedBy::B2bua,
                format!("media encryption policy: {violation}"),
            ));
            self.send_bye(call, client_side, Some(&cause));
            self.set_leg_state(call, server_side, LegState::Terminated);
            return;
        }
        self.end_for_media_policy(call, violation);
    }

    /// Ends an answered call whose SDP broke the media encryption policy: BYE on both legs.
    pub(crate) fn end_for_media_policy(&mut self, call: &mut Call, violation: &PolicyViolation) {
        call.end_with(Ending::new(
            StatusCode::OK,
            Outcome::Rejected,
            EndedBy::B2bua,
            format!("media encryption policy: {violation}"),
        ));
        let cause = format!("SIP;cause=488;text=\"{violation}\"");
        for side in [Side::A, Side::B] {
            self.hang_up(call, side, Some(&cause));
        }
    }

    /// A response on the server side, copied from the client side's response.
    pub(crate) fn relayed_response(
        &self,
        call: &Call,
        relay: &Relay,
        response: &Response,
    ) -> Response {
        let leg = call.leg(relay.server_side);
        // A challenge from the far leg cannot be answered through TwoLeg, which relays no
        // credentials: the caller gets 403 instead of a 401/407 it would answer in vain.
        let challenged = matches!(response.status.code(), 401 | 407);
        let (status, reason) = if challenged {
            (StatusCode::FORBIDDEN, "Forbidden")
        } else {
            (response.status, response.reason.as_str())
        };
        let mut out = relay
            .reply
            .response(status, reason, Some(&leg.dialog.local_tag));
        if response.status.code() > 100
            && response.status.code() < 300
            && relay.method == Method::INVITE
            || relay.method == Method::UPDATE && response.status.is_success()
        {
            out.headers
                .push(HeaderName::CONTACT, format!("<{}>", leg.dialog.contact));
            if response.status.is_success() {
                advertise_allow(&response.headers, &mut out.headers);
                if let Some(timer) = &leg.session {
                    session_timer::write(&mut out.headers, timer, false);
                }
            }
            if relay.initial {
                for route in &relay.reply.record_route {
                    out.headers.push(HeaderName::RECORD_ROUTE, route.clone());
                }
            }
        }
        let code = response.status.code();
        if (300..400).contains(&code) || code == 485 {
            // The alternatives the caller may try (RFC 3261 §8.1.3.4, §21.3, §21.4.23): the
            // callee's Contacts, as they are.
            for contact in response.headers.get_all(&HeaderName::CONTACT) {
                out.headers.push(HeaderName::CONTACT, contact);
            }
        }
        copy_payload(
            &response.headers,
            &response.body,
            &mut out.headers,
            &mut out.body,
            &call.headers,
        );
        call.offer_candidates(relay.server_side, &mut out.body);
        out
    }

    /// The client side of a relay failed: Timer B or F (`status` 408), or the transport could
    /// not carry the request (503).
    pub(crate) fn on_relay_lost(&mut self, id: CallId, relay_id: RelayId, status: StatusCode) {
        let (outcome, reason) = if status == StatusCode::REQUEST_TIMEOUT {
            (Outcome::TimedOut, "no response from the callee (Timer B)")
        } else {
            (
                Outcome::Rejected,
                "the callee cannot be reached (transport error)",
            )
        };
        self.with_call(id, |this, call| {
            let failure = if status == StatusCode::REQUEST_TIMEOUT {
                Failure::NoAnswer
            } else {
                Failure::Transport
            };
            if this.fail_over(call, relay_id, failure) {
                return;
            }
            let Some(relay) = call.relays.remove(&relay_id) else {
                return;
            };
            let client_side = relay.server_side.other();
            let tag = call.leg(relay.server_side).dialog.local_tag.clone();
            if status == StatusCode::REQUEST_TIMEOUT && relay.method != Method::INVITE {
                // RFC 4320 §4.1: no 408 to a non-INVITE request; its sender's own Timer F has
                // run out too, so the request is left unanswered.
                this.forget_tx(relay.server_tx);
            } else {
                this.terminate_server_side(&relay, status, &tag);
            }
            if relay.initial {
                call.leg_mut(client_side).final_status = Some(status.code());
                if call.leg(relay.server_side).final_status.is_none() {
                    call.leg_mut(relay.server_side).final_status = Some(status.code());
                }
                call.end_with(Ending::new(status, outcome, EndedBy::B2bua, reason));
                this.set_leg_state(call, Side::A, LegState::Terminated);
                this.set_leg_state(call, Side::B, LegState::Terminated);
            } else if relay.method == Method::INVITE || relay.method == Method::UPDATE {
                let what = if status == StatusCode::REQUEST_TIMEOUT {
                    "timed out"
                } else {
                    "could not be sent"
                };
                this.tear_down(call, status.code(), format!("{} {what}", relay.method));
            }
        });
    }

    /// Answers the server side of a relay with `status` if it still can.
    pub(crate) fn terminate_server_side(
        &mut self,
        relay: &Relay,
        status: StatusCode,
        to_tag: &str,
    ) {
        let open = self
            .txs
            .get(&relay.server_tx)
            .is_some_and(|entry| entry.tx.can_respond());
        if !open {
            return;
        }
        let response = relay.reply.response(status, status.reason(), Some(to_tag));
        self.respond(relay.server_tx, &response);
    }
}

/// What the ACK of a 2xx carries when the other leg's answer will not come: a declining
/// answer when the 2xx brought an offer (the request had none), else nothing.
fn late_offer_in<'a>(relay: &Relay, response: &'a Response) -> AckBody<'a> {
    if relay.server_had_body || response.body.is_empty() {
        AckBody::Empty
    } else {
        AckBody::Decline(&response.body)
    }
}

impl B2bua {
    /// A re-INVITE, UPDATE or the first INVITE between the legs got its 2xx: the session of
    /// the leg it answered takes what the 2xx says (RFC 4028 §7.2), and both legs are
    /// refreshed.
    fn sessions_refreshed(&mut self, call: &mut Call, client_side: Side, response: &Response) {
        let answer = session_timer::said(&response.headers);
        call.leg_mut(client_side).session = session_timer::from_answer(&answer);
        for side in [Side::A, Side::B] {
            self.arm_session(call, side);
        }
    }

    /// The callee found the first INVITE's Session-Expires too small (422): the INVITE goes
    /// again (a new transaction, the next CSeq) with the callee's Min-SE. Whether it went.
    fn retry_with_min_se(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        response: &Response,
    ) -> bool {
        let Some(relay) = call.relays.get(&relay_id) else {
            return false;
        };
        let Some(min) = session_timer::said(&response.headers).min_se else {
            return false;
        };
        let asked = session_timer::said(&relay.client_request.headers)
            .expires
            .map_or(0, |(seconds, _)| seconds);
        // Each retry asks for more than the last (a callee cannot make it loop), up to a day.
        if !relay.initial || relay.cancel != CancelState::None || min <= asked || min > 86_400 {
            return false;
        }
        let hop = relay.client_hop;
        let mut request = relay.client_request.clone();
        request.headers.remove(&HeaderName::SESSION_EXPIRES);
        request.headers.remove(&HeaderName::MIN_SE);
        session_timer::write_offer(&mut request.headers, min, min);
        self.reissue_initial(call, relay_id, hop, request);
        true
    }

    /// Sends leg B's first INVITE again, as a new transaction (a fresh branch, the next CSeq)
    /// in the same dialog, over `hop`: after a 422, or to the next destination.
    pub(crate) fn reissue_initial(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        hop: Hop,
        mut request: Request,
    ) {
        let id = call.id;
        let leg = call.leg_mut(Side::B);
        leg.dialog.local_cseq += 1;
        let number = leg.dialog.local_cseq;
        let via = crate::sip::Via::new(
            &hop.transport.to_string(),
            hop.local,
            &ids::branch(&mut self.rng),
        );
        request.headers.remove(&HeaderName::VIA);
        request.headers.remove(&HeaderName::CSEQ);
        request.headers.push_front(HeaderName::VIA, via.to_string());
        request
            .headers
            .push(HeaderName::CSEQ, format!("{number} INVITE"));
        let large_over = leg.large_over;
        let (client_tx, client_hop) =
            self.send_fitting(Owner::Relay(id, relay_id), &mut request, hop, large_over);
        if let Some(relay) = call.relays.get_mut(&relay_id) {
            relay.client_request = request;
            relay.client_tx = client_tx;
            relay.client_hop = client_hop;
            relay.got_provisional = false;
        }
    }
}
