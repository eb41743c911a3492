//! The bridging function: what happens on one leg, mapped onto the other.
//!
//! Every call handler takes the call out of the table, works on it, puts it back and moves it
//! to history once both legs are over ([`B2bua::finish_if_over`]).

use std::net::SocketAddr;

use super::call::{AwaitAck, Call, CallId, CancelState, HeldAck, Leg, Relay, RelayId, SentAck};
use super::reply::{ReplyTo, copy_payload};
use super::{B2bua, CallTimer, Owner};
use crate::dialog::Dialog;
use crate::event::{DropReason, Event};
use crate::ids;
use crate::sip::{HeaderName, Message, Method, Parsed, Request, Response, StatusCode};
use crate::status::{EndedBy, LegState, Outcome, Side, TurnDecision};
use crate::transaction::TxId;

impl B2bua {
    /// Runs `f` on a call taken out of the table, then puts it back (or into history).
    pub(super) fn with_call(&mut self, id: CallId, f: impl FnOnce(&mut Self, &mut Call)) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        f(self, &mut call);
        self.calls.insert(id, call);
        self.finish_if_over(id);
    }

    /// A new INVITE: 100 Trying, route, then the B leg's INVITE.
    pub(super) fn on_new_invite(
        &mut self,
        source: SocketAddr,
        local: SocketAddr,
        tx: TxId,
        reply: ReplyTo,
        parsed: Parsed,
    ) {
        let Message::Request(request) = &parsed.message else {
            return;
        };
        let trying = reply.response(StatusCode::TRYING, "Trying", None);
        self.respond(tx, &trying);

        let route_index = parsed.request_uri.as_ref().and_then(|uri| {
            self.config
                .routes()
                .iter()
                .position(|r| r.matches(uri.user.as_deref(), &uri.host))
        });
        let Some(route_index) = route_index else {
            let tag = ids::tag(&mut self.rng);
            let response = reply.response(StatusCode::NOT_FOUND, "No route", Some(&tag));
            self.refuse(tx, &response, source, &Method::INVITE);
            return;
        };
        let route = self.config.routes()[route_index].clone();
        let merge_key = (
            parsed.call_id.clone(),
            parsed.from.tag().unwrap_or_default().to_owned(),
            parsed.cseq.number,
        );
        self.merge_index.insert(merge_key.clone(), tx);
        if let Some(entry) = self.txs.get_mut(&tx) {
            entry.merge_key = Some(merge_key);
        }

        let id = CallId(self.next_id());
        let tag = ids::call_tag(&mut self.rng);
        let b_local = self.config.listeners()[route.listener].address;
        let mut a_party = parsed.to.clone();
        a_party
            .params
            .retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
        let mut caller = parsed.from.clone();
        caller
            .params
            .retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
        let a_dialog = Dialog {
            call_id: parsed.call_id.clone(),
            local_tag: ids::tag(&mut self.rng),
            remote_tag: parsed.from.tag().map(str::to_owned),
            local_party: a_party.clone(),
            remote_party: caller.clone(),
            local_cseq: ids::first_cseq(&mut self.rng),
            remote_cseq: Some(parsed.cseq.number),
            route_set: reply.record_route.clone(),
            remote_target: parsed
                .contacts
                .first()
                .map_or_else(|| parsed.from.uri.clone(), |c| c.uri.clone()),
            contact: format!("sip:twoleg@{local}"),
        };
        let b_host = b_local.ip().to_string();
        let mut b_dialog = Dialog {
            call_id: ids::call_id(&mut self.rng, &b_host),
            local_tag: ids::tag(&mut self.rng),
            remote_tag: None,
            local_party: caller,
            remote_party: a_party,
            local_cseq: ids::first_cseq(&mut self.rng) - 1,
            remote_cseq: None,
            route_set: Vec::new(),
            remote_target: request.uri.clone(),
            contact: format!("sip:twoleg@{b_local}"),
        };
        let mut max_forwards = parsed
            .max_forwards
            .map_or_else(|| self.config.max_forwards(), |mf| mf.saturating_sub(1));
        if route.lync {
            max_forwards = max_forwards.min(self.config.lync().hop_count);
        }
        let mut b_invite =
            b_dialog.request(Method::INVITE, None, b_local, max_forwards, &mut self.rng);
        copy_payload(
            &request.headers,
            &request.body,
            &mut b_invite.headers,
            &mut b_invite.body,
        );

        // The Lync leg: B toward Lync on a Lync route, else A for a call from Lync.
        let (turn, media) = if route.lync {
            self.begin_turn(id, Side::B, b_local.ip())
        } else if self.comes_from_lync(source) {
            self.begin_turn(id, Side::A, local.ip())
        } else {
            (TurnDecision::NotApplicable, None)
        };

        let destination_uri = request.uri.clone();
        let source_uri = parsed.from.uri.clone();
        let serial_a = self.next_id();
        let serial_b = self.next_id();
        let leg = |side, serial, dialog, peer, local| Leg {
            side,
            serial,
            state: LegState::Trying,
            dialog,
            peer,
            local,
            source: source_uri.clone(),
            destination: destination_uri.clone(),
            final_status: None,
            awaiting_ack: None,
            last_ack: None,
            bye_held: false,
            bye_sent: false,
        };
        let a_leg = leg(Side::A, serial_a, a_dialog, source, local);
        let b_leg = leg(Side::B, serial_b, b_dialog, route.destination, b_local);
        self.dialogs.insert(
            (a_leg.dialog.call_id.clone(), a_leg.dialog.local_tag.clone()),
            (id, Side::A),
        );
        self.dialogs.insert(
            (b_leg.dialog.call_id.clone(), b_leg.dialog.local_tag.clone()),
            (id, Side::B),
        );
        let relay_id = RelayId(0);
        // With TURN relays being allocated, the Lync leg's INVITE waits for them; until then
        // its client transaction id names no transaction.
        let client_tx = if media.is_some() {
            TxId(self.next_id())
        } else {
            self.send_request(
                Owner::Relay(id, relay_id),
                &b_invite,
                b_local,
                route.destination,
            )
        };
        self.set_owner(tx, Owner::Relay(id, relay_id));
        let mut call = Call {
            id,
            tag: tag.clone(),
            route: route.name.clone(),
            turn,
            media,
            legs: [a_leg, b_leg],
            started_at: self.now,
            answered_at: None,
            relays: Default::default(),
            next_relay: 1,
            ending: None,
        };
        call.relays.insert(
            relay_id,
            Relay {
                method: Method::INVITE,
                initial: true,
                server_side: Side::A,
                server_tx: tx,
                reply,
                server_had_body: !request.body.is_empty(),
                client_request: b_invite,
                client_tx,
                client_peer: route.destination,
                got_provisional: false,
                no_answer_armed: false,
                cancel: CancelState::None,
            },
        );
        // A call from Lync: its offer names the far side's addresses.
        self.learn_lync_peers(&mut call, Side::A, &request.body);
        let status = call.status();
        self.calls.insert(id, call);
        self.counters.calls_started += 1;
        self.emit(Event::CallStarted(Box::new(status)));
        for side in [Side::A, Side::B] {
            self.emit(Event::LegState {
                tag: tag.clone(),
                side,
                state: LegState::Trying,
            });
        }
        if let Some(ring) = self.config.ring_timeout() {
            self.set_call_timer(id, CallTimer::RingTimeout, ring);
        }
    }

    /// A request inside a leg's dialog (not ACK, not CANCEL).
    pub(super) fn on_dialog_request(
        &mut self,
        id: CallId,
        side: Side,
        tx: TxId,
        reply: ReplyTo,
        parsed: Parsed,
    ) {
        self.set_owner(tx, Owner::Call(id));
        self.with_call(id, |this, call| {
            let leg = call.leg_mut(side);
            if let Some(last) = leg.dialog.remote_cseq
                && parsed.cseq.number <= last
            {
                let status = StatusCode::SERVER_INTERNAL_ERROR;
                let response = reply.response(status, "CSeq out of order", None);
                this.respond(tx, &response);
                return;
            }
            leg.dialog.remote_cseq = Some(parsed.cseq.number);
            if parsed.cseq.method == Method::BYE {
                this.on_bye(id, call, side, tx, &reply, &parsed);
            } else {
                this.relay_in_dialog(id, call, side, tx, reply, &parsed);
            }
        });
    }

    fn on_bye(
        &mut self,
        id: CallId,
        call: &mut Call,
        side: Side,
        tx: TxId,
        reply: &ReplyTo,
        parsed: &Parsed,
    ) {
        let ok = reply.response(StatusCode::OK, "OK", None);
        self.respond(tx, &ok);
        // A BYE before the ACK (RFC 3261 §15): the other leg's 2xx still gets its ACK.
        if let Some(held) = call
            .leg_mut(side)
            .awaiting_ack
            .take()
            .and_then(|a| a.held_ack)
        {
            self.send_ack(call, held.side, held.cseq, None);
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
                    id,
                    call,
                    initial,
                    StatusCode::REQUEST_TERMINATED,
                    Outcome::Cancelled,
                    who,
                    &reason,
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
                    call.end_with(480, Outcome::Rejected, who, reason);
                    self.set_leg_state(call, Side::A, LegState::Terminated);
                }
            }
            self.set_leg_state(call, side, LegState::Terminated);
            return;
        }
        call.end_with(200, Outcome::Completed, who, reason);
        self.set_leg_state(call, side, LegState::Terminated);
        self.hang_up(id, call, side.other(), None);
    }

    /// Sends BYE on a leg, or holds it until the leg's ACK arrives (RFC 3261 §15).
    fn hang_up(&mut self, id: CallId, call: &mut Call, side: Side, reason: Option<&str>) {
        let leg = call.leg_mut(side);
        if leg.state == LegState::Terminated || leg.bye_sent {
            return;
        }
        if leg.awaiting_ack.is_some() {
            leg.bye_held = true;
            return;
        }
        self.send_bye(id, call, side, reason);
    }

    fn send_bye(&mut self, id: CallId, call: &mut Call, side: Side, reason: Option<&str>) {
        let max_forwards = self.config.max_forwards();
        let leg = call.leg_mut(side);
        leg.bye_sent = true;
        leg.bye_held = false;
        let mut bye = leg
            .dialog
            .request(Method::BYE, None, leg.local, max_forwards, &mut self.rng);
        if let Some(reason) = reason {
            bye.headers.push(HeaderName::REASON, reason);
        }
        let (local, hop) = (leg.local, leg.next_hop());
        self.send_request(Owner::Bye(id, side), &bye, local, hop);
        self.set_leg_state(call, side, LegState::Terminated);
    }

    fn relay_in_dialog(
        &mut self,
        id: CallId,
        call: &mut Call,
        side: Side,
        tx: TxId,
        reply: ReplyTo,
        parsed: &Parsed,
    ) {
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
                response.headers.push(HeaderName::RETRY_AFTER, "5");
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
        if matches!(request.method, Method::INVITE | Method::UPDATE)
            && let Some(contact) = parsed.contacts.first()
        {
            call.leg_mut(side).dialog.remote_target = contact.uri.clone();
        }
        let max_forwards = parsed
            .max_forwards
            .map_or_else(|| self.config.max_forwards(), |mf| mf.saturating_sub(1));
        let leg = call.leg_mut(other);
        let mut out = leg.dialog.request(
            request.method.clone(),
            None,
            leg.local,
            max_forwards,
            &mut self.rng,
        );
        copy_payload(
            &request.headers,
            &request.body,
            &mut out.headers,
            &mut out.body,
        );
        let (local, hop) = (leg.local, leg.next_hop());
        call.offer_candidates(other, &mut out.body);
        self.learn_lync_peers(call, side, &request.body);
        let relay_id = RelayId(call.next_relay);
        call.next_relay += 1;
        let client_tx = self.send_request(Owner::Relay(id, relay_id), &out, local, hop);
        self.set_owner(tx, Owner::Relay(id, relay_id));
        call.relays.insert(
            relay_id,
            Relay {
                method: request.method.clone(),
                initial: false,
                server_side: side,
                server_tx: tx,
                reply,
                server_had_body: !request.body.is_empty(),
                client_request: out,
                client_tx,
                client_peer: hop,
                got_provisional: false,
                no_answer_armed: false,
                cancel: CancelState::None,
            },
        );
    }

    /// An ACK with a To tag: the ACK of a 2xx TwoLeg sent on that leg.
    pub(super) fn on_dialog_ack(&mut self, source: SocketAddr, parsed: Parsed) {
        let key = (
            parsed.call_id.clone(),
            parsed.to.tag().unwrap_or_default().to_owned(),
        );
        let Some(&(id, side)) = self.dialogs.get(&key) else {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::StrayAck,
            });
            return;
        };
        self.with_call(id, |this, call| {
            let leg = call.leg_mut(side);
            let Some(awaiting) = leg.awaiting_ack.take_if(|a| a.cseq == parsed.cseq.number) else {
                // A retransmitted ACK: absorbed.
                return;
            };
            this.cancel_call_timer(id, CallTimer::Retransmit2xx(side));
            this.cancel_call_timer(id, CallTimer::AckTimeout(side));
            this.learn_lync_peers(call, side, parsed.message.body());
            if let Some(held) = awaiting.held_ack {
                this.send_ack(call, held.side, held.cseq, Some(&parsed));
            }
            if call.leg(side).bye_held {
                this.send_bye(id, call, side, None);
            }
        });
    }

    /// Sends the ACK for a 2xx on a leg (RFC 3261 §13.2.2.4), with the SDP answer of `answer`.
    fn send_ack(&mut self, call: &mut Call, side: Side, cseq: u32, answer: Option<&Parsed>) {
        let max_forwards = self.config.max_forwards();
        let leg = call.leg_mut(side);
        let mut ack = leg.dialog.request(
            Method::ACK,
            Some(cseq),
            leg.local,
            max_forwards,
            &mut self.rng,
        );
        if let Some(answer) = answer {
            copy_payload(
                answer.message.headers(),
                answer.message.body(),
                &mut ack.headers,
                &mut ack.body,
            );
        }
        call.offer_candidates(side, &mut ack.body);
        let leg = call.leg_mut(side);
        let bytes = ack.to_bytes();
        let destination = leg.next_hop();
        leg.last_ack = Some(SentAck {
            cseq,
            bytes: bytes.clone(),
            destination,
        });
        let local = leg.local;
        self.transmit(local, destination, bytes);
    }

    /// A response on the client side of a relayed request.
    pub(super) fn on_relay_response(&mut self, id: CallId, relay_id: RelayId, parsed: &Parsed) {
        let Message::Response(response) = &parsed.message else {
            return;
        };
        self.with_call(id, |this, call| {
            if !call.relays.contains_key(&relay_id) {
                // The relay is done: a retransmitted 2xx (re-ACK it) or a forked one (ACK + BYE).
                if response.status.is_success() && parsed.cseq.method == Method::INVITE {
                    this.on_late_2xx(id, call, parsed);
                }
                return;
            }
            let client_side = call.relays[&relay_id].server_side.other();
            if !response.body.is_empty() {
                this.learn_lync_peers(call, client_side, &response.body);
            }
            let status = response.status;
            if status.is_provisional() {
                this.on_relay_provisional(id, call, relay_id, parsed, response);
            } else if status.is_success() {
                this.on_relay_success(id, call, relay_id, parsed, response);
            } else {
                this.on_relay_failure(id, call, relay_id, response);
            }
        });
    }

    fn on_relay_provisional(
        &mut self,
        id: CallId,
        call: &mut Call,
        relay_id: RelayId,
        parsed: &Parsed,
        response: &Response,
    ) {
        let Some(relay) = call.relays.get_mut(&relay_id) else {
            return;
        };
        relay.got_provisional = true;
        let client_side = relay.server_side.other();
        let initial = relay.initial;
        if relay.cancel == CancelState::Pending {
            relay.cancel = CancelState::Sent;
            let (cancel, peer) = (cancel_for(&relay.client_request), relay.client_peer);
            let local = call.leg(client_side).local;
            self.send_request(Owner::Call(id), &cancel, local, peer);
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
        if initial && parsed.to.tag().is_some() {
            learn_dialog(&mut call.leg_mut(client_side).dialog, parsed, true);
            self.set_leg_state(call, client_side, LegState::Early);
        }
        let Some(relay) = call.relays.get(&relay_id) else {
            return;
        };
        let server_side = relay.server_side;
        let out = self.relayed_response(call, relay, response);
        let server_tx = relay.server_tx;
        self.respond(server_tx, &out);
        if initial {
            self.set_leg_state(call, server_side, LegState::Early);
        }
    }

    fn on_relay_success(
        &mut self,
        id: CallId,
        call: &mut Call,
        relay_id: RelayId,
        parsed: &Parsed,
        response: &Response,
    ) {
        let Some(relay) = call.relays.remove(&relay_id) else {
            return;
        };
        self.cancel_call_timer(id, CallTimer::CancelTimeout(relay_id));
        self.cancel_call_timer(id, CallTimer::RelayNoAnswer(relay_id));
        let client_side = relay.server_side.other();
        let server_side = relay.server_side;
        if relay.method != Method::INVITE {
            let out = self.relayed_response(call, &relay, response);
            self.respond(relay.server_tx, &out);
            return;
        }
        learn_dialog(&mut call.leg_mut(client_side).dialog, parsed, relay.initial);
        let server_open = self
            .txs
            .get(&relay.server_tx)
            .is_some_and(|entry| entry.tx.can_respond());
        if relay.cancel != CancelState::None || !server_open {
            // CANCEL and 200 crossed (RFC 5407): ACK the 200, then hang up that leg; for a
            // re-INVITE the legs no longer agree on the session, so the call ends.
            self.send_ack(call, client_side, parsed.cseq.number, None);
            if !relay.initial {
                let reason = "re-INVITE cancelled after the other side accepted it".to_owned();
                self.tear_down(id, call, 487, reason);
                return;
            }
            call.leg_mut(client_side).final_status = Some(response.status.code());
            self.send_bye(
                id,
                call,
                client_side,
                Some("SIP;cause=487;text=\"Request Terminated\""),
            );
            return;
        }
        if relay.initial {
            call.answered_at = Some(self.now);
            self.cancel_call_timer(id, CallTimer::RingTimeout);
            call.leg_mut(client_side).final_status = Some(response.status.code());
            call.leg_mut(server_side).final_status = Some(response.status.code());
            self.set_leg_state(call, client_side, LegState::Confirmed);
            self.set_leg_state(call, server_side, LegState::Confirmed);
        }
        let late_offer = !relay.server_had_body && !response.body.is_empty();
        let out = self.relayed_response(call, &relay, response);
        let bytes = out.to_bytes();
        self.respond(relay.server_tx, &out);
        let cseq = relay_cseq(&relay);
        call.leg_mut(server_side).awaiting_ack = Some(AwaitAck {
            cseq,
            bytes,
            destination: relay.reply.address,
            interval: self.timing.t1,
            held_ack: late_offer.then_some(HeldAck {
                side: client_side,
                cseq: parsed.cseq.number,
            }),
        });
        self.set_call_timer(id, CallTimer::Retransmit2xx(server_side), self.timing.t1);
        self.set_call_timer(id, CallTimer::AckTimeout(server_side), self.timing.t1x64());
        if !late_offer {
            self.send_ack(call, client_side, parsed.cseq.number, None);
        }
    }

    fn on_relay_failure(
        &mut self,
        id: CallId,
        call: &mut Call,
        relay_id: RelayId,
        response: &Response,
    ) {
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
            call.end_with(
                code,
                Outcome::Rejected,
                EndedBy::Callee,
                format!("callee answered {code} {}", response.reason),
            );
            self.set_leg_state(call, Side::A, LegState::Terminated);
            self.set_leg_state(call, Side::B, LegState::Terminated);
        } else if relay.method == Method::INVITE && (code == 481 || code == 408) {
            // RFC 6141: 481 or 408 to a re-INVITE ends the dialog.
            self.tear_down(id, call, code, format!("{code} to a re-INVITE"));
        }
    }

    /// A 2xx for an INVITE whose relay is done: re-send the ACK for a retransmission of the
    /// answered dialog; ACK and hang up any other fork.
    fn on_late_2xx(&mut self, id: CallId, call: &mut Call, parsed: &Parsed) {
        let side = call
            .legs
            .iter()
            .find(|leg| leg.dialog.call_id == parsed.call_id)
            .map(|leg| leg.side);
        let Some(side) = side else {
            return;
        };
        let leg = call.leg_mut(side);
        if parsed.to.tag() == leg.dialog.remote_tag.as_deref() {
            if let Some(ack) = &leg.last_ack
                && ack.cseq == parsed.cseq.number
            {
                let (local, destination, bytes) = (leg.local, ack.destination, ack.bytes.clone());
                self.retransmit(local, destination, bytes);
            }
            return;
        }
        // Another fork answered: ACK it and hang it up (RFC 3261 §13.2.2.4).
        let mut fork = leg.dialog.clone();
        learn_dialog(&mut fork, parsed, true);
        let (local, peer) = (leg.local, leg.peer);
        let max_forwards = self.config.max_forwards();
        let ack = fork.request(
            Method::ACK,
            Some(parsed.cseq.number),
            local,
            max_forwards,
            &mut self.rng,
        );
        self.transmit(local, fork.next_hop(peer), ack.to_bytes());
        let bye = fork.request(Method::BYE, None, local, max_forwards, &mut self.rng);
        self.send_request(Owner::Engine, &bye, local, fork.next_hop(peer));
        let _ = id;
    }

    /// ACKs a 2xx to an INVITE of a call that is over, then hangs up the dialog it made, from
    /// the response alone.
    pub(super) fn ack_and_bye_orphan(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        parsed: &Parsed,
    ) {
        let without_tag = |party: &crate::sip::NameAddr| {
            let mut party = party.clone();
            party.params.retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
            party
        };
        let mut dialog = Dialog {
            call_id: parsed.call_id.clone(),
            local_tag: parsed.from.tag().unwrap_or_default().to_owned(),
            remote_tag: parsed.to.tag().map(str::to_owned),
            local_party: without_tag(&parsed.from),
            remote_party: without_tag(&parsed.to),
            local_cseq: parsed.cseq.number,
            remote_cseq: None,
            route_set: Vec::new(),
            remote_target: parsed.to.uri.clone(),
            contact: format!("sip:twoleg@{local}"),
        };
        learn_dialog(&mut dialog, parsed, true);
        let max_forwards = self.config.max_forwards();
        let ack = dialog.request(
            Method::ACK,
            Some(parsed.cseq.number),
            local,
            max_forwards,
            &mut self.rng,
        );
        let hop = dialog.next_hop(peer);
        self.transmit(local, hop, ack.to_bytes());
        let bye = dialog.request(Method::BYE, None, local, max_forwards, &mut self.rng);
        self.send_request(Owner::Engine, &bye, local, hop);
    }

    /// Timer B or F on the client side of a relay.
    pub(super) fn on_relay_timeout(&mut self, id: CallId, relay_id: RelayId, _tx: TxId) {
        self.with_call(id, |this, call| {
            let Some(relay) = call.relays.remove(&relay_id) else {
                return;
            };
            let client_side = relay.server_side.other();
            let tag = call.leg(relay.server_side).dialog.local_tag.clone();
            this.terminate_server_side(&relay, StatusCode::REQUEST_TIMEOUT, &tag);
            if relay.initial {
                call.leg_mut(client_side).final_status = Some(408);
                if call.leg(relay.server_side).final_status.is_none() {
                    call.leg_mut(relay.server_side).final_status = Some(408);
                }
                call.end_with(
                    408,
                    Outcome::TimedOut,
                    EndedBy::B2bua,
                    "no response from the callee (Timer B)",
                );
                this.set_leg_state(call, Side::A, LegState::Terminated);
                this.set_leg_state(call, Side::B, LegState::Terminated);
            } else if relay.method == Method::INVITE || relay.method == Method::UPDATE {
                this.tear_down(id, call, 408, format!("{} timed out", relay.method));
            }
        });
    }

    /// Answers the server side of a relay with `status` if it still can.
    pub(super) fn terminate_server_side(
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

    /// CANCEL from the caller (or a disconnect, or the ring timeout) for a relayed INVITE.
    pub(super) fn cancel_relay(&mut self, id: CallId, relay_id: RelayId, reason: &str) {
        self.with_call(id, |this, call| {
            this.cancel_relay_in(
                id,
                call,
                relay_id,
                StatusCode::REQUEST_TERMINATED,
                Outcome::Cancelled,
                EndedBy::Caller,
                reason,
            );
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel_relay_in(
        &mut self,
        id: CallId,
        call: &mut Call,
        relay_id: RelayId,
        status: StatusCode,
        outcome: Outcome,
        ended_by: EndedBy,
        reason: &str,
    ) {
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
            let (cancel, peer) = (cancel_for(&relay.client_request), relay.client_peer);
            let local = call.leg(client_side).local;
            self.send_request(Owner::Call(id), &cancel, local, peer);
            self.set_call_timer(id, CallTimer::CancelTimeout(relay_id), self.timing.t1x64());
        } else {
            relay.cancel = CancelState::Pending;
        }
        let Some(relay) = call.relays.get(&relay_id) else {
            return;
        };
        let response = relay.reply.response(
            status,
            status.reason(),
            Some(&call.leg(server_side).dialog.local_tag),
        );
        let server_tx = relay.server_tx;
        self.respond(server_tx, &response);
        if initial {
            call.leg_mut(server_side).final_status = Some(status.code());
            call.end_with(status.code(), outcome, ended_by, reason);
            self.set_leg_state(call, server_side, LegState::Terminated);
            self.cancel_call_timer(id, CallTimer::RingTimeout);
        }
        if held {
            call.relays.remove(&relay_id);
            self.set_leg_state(call, client_side, LegState::Terminated);
        }
    }

    /// Ends an answered call from TwoLeg's side: BYE on both legs.
    fn tear_down(&mut self, id: CallId, call: &mut Call, status: u16, reason: String) {
        let header = format!("SIP;cause={status};text=\"{reason}\"");
        call.end_with(200, Outcome::TimedOut, EndedBy::B2bua, reason);
        for side in [Side::A, Side::B] {
            self.hang_up(id, call, side, Some(&header));
        }
    }

    pub(super) fn on_call_timer(&mut self, id: CallId, timer: CallTimer) {
        self.with_call(id, |this, call| match timer {
            CallTimer::Retransmit2xx(side) => {
                let t2 = this.timing.t2;
                let leg = call.leg_mut(side);
                let Some(awaiting) = &mut leg.awaiting_ack else {
                    return;
                };
                awaiting.interval = (awaiting.interval * 2).min(t2);
                let (local, destination, bytes, interval) = (
                    leg.local,
                    awaiting.destination,
                    awaiting.bytes.clone(),
                    awaiting.interval,
                );
                this.retransmit(local, destination, bytes);
                this.set_call_timer(id, CallTimer::Retransmit2xx(side), interval);
            }
            CallTimer::AckTimeout(side) => {
                this.cancel_call_timer(id, CallTimer::Retransmit2xx(side));
                let Some(awaiting) = call.leg_mut(side).awaiting_ack.take() else {
                    return;
                };
                if let Some(held) = awaiting.held_ack {
                    this.send_ack(call, held.side, held.cseq, None);
                }
                let header = "SIP;cause=408;text=\"ACK timeout\"";
                if call.leg(side).bye_held {
                    this.send_bye(id, call, side, Some(header));
                    return;
                }
                call.end_with(
                    200,
                    Outcome::TimedOut,
                    EndedBy::B2bua,
                    "no ACK for the 2xx (64*T1)",
                );
                this.send_bye(id, call, side, Some(header));
                this.hang_up(id, call, side.other(), Some(header));
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
                this.cancel_relay_in(
                    id,
                    call,
                    relay_id,
                    StatusCode::REQUEST_TIMEOUT,
                    Outcome::TimedOut,
                    EndedBy::B2bua,
                    "re-INVITE got no final response",
                );
            }
            CallTimer::TurnGiveUp => this.on_turn_give_up(id, call),
            CallTimer::TurnRefresh => this.on_turn_refresh(id, call),
            CallTimer::RingTimeout => {
                if let Some(initial) = call.initial_relay() {
                    this.cancel_relay_in(
                        id,
                        call,
                        initial,
                        StatusCode::TEMPORARILY_UNAVAILABLE,
                        Outcome::TimedOut,
                        EndedBy::B2bua,
                        "no answer (ring timeout)",
                    );
                }
            }
        });
    }

    /// Disconnect from outside: CANCEL (and 487) before the answer, BYE on both legs after it.
    pub(super) fn disconnect_call(&mut self, id: CallId) {
        self.with_call(id, |this, call| {
            let reason = "disconnected by the operator";
            if let Some(initial) = call.initial_relay() {
                this.cancel_relay_in(
                    id,
                    call,
                    initial,
                    StatusCode::REQUEST_TERMINATED,
                    Outcome::Disconnected,
                    EndedBy::B2bua,
                    reason,
                );
                return;
            }
            call.end_with(200, Outcome::Disconnected, EndedBy::B2bua, reason);
            let header = "SIP;cause=200;text=\"Call disconnected\"";
            for side in [Side::A, Side::B] {
                this.hang_up(id, call, side, Some(header));
            }
        });
    }

    /// A response on the server side, copied from the client side's response.
    fn relayed_response(&self, call: &Call, relay: &Relay, response: &Response) -> Response {
        let leg = call.leg(relay.server_side);
        let mut out = relay.reply.response(
            response.status,
            &response.reason,
            Some(&leg.dialog.local_tag),
        );
        if response.status.code() > 100
            && response.status.code() < 300
            && relay.method == Method::INVITE
            || relay.method == Method::UPDATE && response.status.is_success()
        {
            out.headers
                .push(HeaderName::CONTACT, format!("<{}>", leg.dialog.contact));
            if relay.initial {
                for route in &relay.reply.record_route {
                    out.headers.push(HeaderName::RECORD_ROUTE, route.clone());
                }
            }
        }
        copy_payload(
            &response.headers,
            &response.body,
            &mut out.headers,
            &mut out.body,
        );
        call.offer_candidates(relay.server_side, &mut out.body);
        out
    }

    fn set_leg_state(&mut self, call: &mut Call, side: Side, state: LegState) {
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
fn learn_dialog(dialog: &mut Dialog, parsed: &Parsed, creates_dialog: bool) {
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
    if creates_dialog && !routes.is_empty() {
        dialog.route_set = routes.into_iter().rev().collect();
    }
}

/// The CANCEL of a request TwoLeg sent (RFC 3261 §9.1): same Request-URI, Call-ID, From, To,
/// CSeq number, top Via and Route.
fn cancel_for(request: &Request) -> Request {
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
    cancel
}

/// The CSeq number of the request a relay answers.
fn relay_cseq(relay: &Relay) -> u32 {
    relay
        .reply
        .cseq
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}
