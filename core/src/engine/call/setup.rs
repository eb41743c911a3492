//! A new INVITE: routing, both legs and the B leg's INVITE.

use super::{Call, CallId, CancelState, Leg, Relay, RelayId, reliable, session_timer};
use crate::config::RoutePlan;
use crate::dialog::Dialog;
use crate::engine::anchor::{BUSY_RETRY_AFTER_S, SdpRole, warning};
use crate::engine::lync_leg::LyncMedia;
use crate::engine::pass_through::{advertise_allow, copy_payload};
use crate::engine::resolving::ParkedInvite;
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::event::Event;
use crate::event::Refusal;
use crate::hop::{Hop, contact_uri};
use crate::ids;
use crate::sip::{HeaderName, Message, Method, Parsed, ReplyTo, StatusCode, Uri};
use crate::status::{LegState, Side, TurnDecision};
use crate::transaction::{MergeKey, TxId};

impl B2bua {
    /// A new INVITE: 100 Trying, then routing.
    pub(crate) fn on_new_invite(&mut self, arrival: Hop, tx: TxId, reply: ReplyTo, parsed: Parsed) {
        let Some(admission) = self.admit_caller(tx, &reply, &parsed, arrival.peer) else {
            return;
        };
        let trying = reply.response(StatusCode::TRYING, "Trying", None);
        self.respond(tx, &trying);
        self.route_invite(ParkedInvite {
            arrival,
            tx,
            reply,
            parsed,
            since: self.now,
            admission,
        });
    }

    /// Routes a new INVITE (again, once DNS answered): its route, the route's limits, both
    /// legs and the B leg's INVITE.
    pub(crate) fn route_invite(&mut self, invite: ParkedInvite) {
        let ParkedInvite {
            arrival,
            tx,
            reply,
            parsed,
            since,
            admission,
        } = invite;
        let (source, local) = (arrival.peer, arrival.local);
        let Message::Request(request) = &parsed.message else {
            unreachable!("only requests open calls");
        };

        let route_index = parsed.request_uri.as_ref().and_then(|uri| {
            self.config
                .routes()
                .iter()
                .position(|r| r.matches(uri.user.as_deref(), &uri.host))
        });
        let Some(route_index) = route_index else {
            let tag = ids::tag(&mut self.rng);
            let response = reply.response(StatusCode::NOT_FOUND, "No route", Some(&tag));
            self.refuse(tx, &response, source, &Method::INVITE, Refusal::NoRoute);
            return;
        };
        let route = self.config.routes()[route_index].clone();
        let Some(mut targets) = self.call_targets(route_index) else {
            self.parked.push(ParkedInvite {
                arrival,
                tx,
                reply,
                parsed,
                since,
                admission,
            });
            return;
        };
        if targets.is_empty() {
            // Every destination failed its pings, or its names resolve to nothing: asked to
            // come back after the next ping round.
            let retry_after = route
                .ping
                .map_or(5, |policy| policy.interval.as_secs().max(1));
            self.refuse_unavailable(
                tx,
                &reply,
                source,
                "No Destination Available",
                retry_after,
                Refusal::NoDestination,
            );
            return;
        }
        let listener_index = self
            .config
            .listeners()
            .iter()
            .position(|l| l.address == local && l.transport == arrival.transport)
            .unwrap_or(0);
        let listener = &self.config.listeners()[listener_index];
        let (listener_max, listener_rate) = (listener.max_calls, listener.max_calls_per_second);
        let busy =
            match self.listener_load[listener_index].refusal(self.now, listener_max, listener_rate)
            {
                Some(retry_after) => Some((retry_after, "Listener Busy", Refusal::ListenerBusy)),
                None => self.route_load[route_index]
                    .refusal(self.now, route.max_calls, route.max_calls_per_second)
                    .map(|retry_after| (retry_after, "Route Busy", Refusal::RouteBusy)),
            };
        if let Some((retry_after, reason, refusal)) = busy {
            self.refuse_unavailable(tx, &reply, source, reason, retry_after.into(), refusal);
            return;
        }
        // Session timers (RFC 4028): the route's own, else the Lync B2BUA's on a call to or
        // from Lync, else the SIP settings'.
        let session_policy = if let Some(own) = route.session_timers {
            own
        } else if route.lync || self.comes_from_lync(source) {
            self.config.lync().session_timers
        } else {
            self.config.session_timers()
        };
        let asked = session_timer::said(&request.headers);
        let a_session = match session_timer::for_caller(
            &asked,
            session_timer::allows_update(&request.headers),
            session_policy,
        ) {
            Ok(session) => session,
            Err(min) => {
                let status = StatusCode::SESSION_INTERVAL_TOO_SMALL;
                let tag = ids::tag(&mut self.rng);
                let mut response = reply.response(status, status.reason(), Some(&tag));
                response.headers.push(HeaderName::MIN_SE, min.to_string());
                self.refuse(
                    tx,
                    &response,
                    source,
                    &Method::INVITE,
                    Refusal::SessionIntervalTooSmall,
                );
                return;
            }
        };
        let destination = targets.remove(0);
        // Leg B's media policy is the zone's of its first destination: the call fails over only
        // to addresses in that zone.
        let zones = self.config.zones();
        let zone = zones.zone_of(destination.ip()).0;
        targets.retain(|target| zones.zone_of(target.ip()).0 == zone);
        let merge_key = MergeKey::of(&parsed);
        self.merge_index.insert(merge_key.clone(), tx);
        if let Some(entry) = self.txs.get_mut(&tx) {
            entry.merge_key = Some(merge_key);
        }

        let id = CallId(self.next_id());
        let tag = ids::call_tag(&mut self.rng);
        let b_listener = &self.config.listeners()[route.listener];
        let b_hop = Hop {
            transport: b_listener.transport,
            local: b_listener.address,
            peer: destination,
            connection: None,
            awaiting: None,
        };

        // The Lync leg: B toward Lync on a Lync route, else A for a call from Lync. Its TURN
        // relays start now: their port pair is the first stream's on that leg.
        let lync_side = if route.lync {
            Some(Side::B)
        } else if self.comes_from_lync(source) {
            Some(Side::A)
        } else {
            None
        };
        let (turn, media) = match lync_side {
            Some(Side::B) => self.begin_turn(id, Side::B, b_hop.local.ip()),
            Some(Side::A) => self.begin_turn(id, Side::A, local.ip()),
            None => (TurnDecision::NotApplicable, None),
        };
        // The media: anchored by the Lync B2BUA, or the encryption B2BUA when either zone has
        // a policy.
        let mut anchor = self.anchor_for(
            source.ip(),
            destination.ip(),
            [local.ip(), b_hop.local.ip()],
            lync_side,
        );
        let mut b_body = None;
        if let Some(anchor) = anchor.as_mut() {
            anchor.set_turn_port(media.as_ref().map(LyncMedia::port));
            if !anchor.is_lync() && self.anchored_calls() >= self.config.encryption().max_calls {
                self.refuse_unavailable(
                    tx,
                    &reply,
                    source,
                    "Encryption B2BUA Busy",
                    BUSY_RETRY_AFTER_S.into(),
                    Refusal::EncryptionB2buaBusy,
                );
                return;
            }
            if !request.body.is_empty() {
                match self.anchor_body(&tag, anchor, Side::A, SdpRole::Offer, &request.body) {
                    Ok(body) => b_body = Some(body),
                    Err(violation) => {
                        self.close_anchor(&tag, anchor);
                        if let Some(media) = media {
                            self.drop_turn(id, &media);
                        }
                        let status = StatusCode::new(violation.status())
                            .unwrap_or(StatusCode::NOT_ACCEPTABLE_HERE);
                        let mut response =
                            reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
                        response
                            .headers
                            .push(HeaderName::WARNING, warning(&violation));
                        self.refuse(
                            tx,
                            &response,
                            source,
                            &Method::INVITE,
                            Refusal::MediaPolicy(violation),
                        );
                        return;
                    }
                }
            }
        }
        let b_local = b_hop.local;
        let large_over = route
            .large_requests_over
            .map(|index| self.config.listeners()[index].address);
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
            contact: contact_uri(arrival.transport, local),
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
            remote_target: rewrite_uri(&request.uri, &route),
            contact: contact_uri(b_hop.transport, b_hop.local),
        };
        let mut max_forwards = parsed
            .max_forwards
            .map_or_else(|| self.config.max_forwards(), |mf| mf.saturating_sub(1));
        if route.lync {
            max_forwards = max_forwards.min(self.config.lync().hop_count);
        }
        let mut b_invite =
            b_dialog.request(Method::INVITE, None, &b_hop, max_forwards, &mut self.rng);
        copy_payload(
            &request.headers,
            &request.body,
            &mut b_invite.headers,
            &mut b_invite.body,
            &route.headers,
        );
        advertise_allow(&request.headers, &mut b_invite.headers);
        session_timer::write_offer(
            &mut b_invite.headers,
            session_policy.interval.as_secs(),
            session_policy.min.as_secs(),
        );
        // Without an offer in the INVITE a reliable provisional could bring one, whose answer
        // belongs in TwoLeg's PRACK: then leg B is offered session timers only.
        let options: &[&str] = if request.body.is_empty() {
            &["timer"]
        } else {
            crate::engine::SUPPORTED
        };
        b_invite
            .headers
            .push(HeaderName::SUPPORTED, options.join(", "));
        if let Some(body) = b_body {
            b_invite.body = body;
        }

        let destination_uri = request.uri.clone();
        let source_uri = parsed.from.uri.clone();
        let serial_a = self.next_id();
        let serial_b = self.next_id();
        let leg = |side, serial, dialog, hop, large_over| Leg {
            side,
            serial,
            state: LegState::Trying,
            dialog,
            hop,
            large_over,
            source: source_uri.clone(),
            destination: destination_uri.clone(),
            final_status: None,
            awaiting_ack: None,
            last_ack: None,
            bye_held: false,
            bye_carries: Vec::new(),
            bye_sent: false,
            session: None,
            refresh_pending: false,
            reliable: Default::default(),
            peer_rseqs: Vec::new(),
        };
        let mut a_leg = leg(Side::A, serial_a, a_dialog, arrival, None);
        a_leg.session = a_session;
        a_leg.reliable.mode = reliable::reliability(&request.headers);
        let b_leg = leg(Side::B, serial_b, b_dialog, b_hop, large_over);
        self.dialogs.insert(a_leg.dialog.key(), (id, Side::A));
        self.dialogs.insert(b_leg.dialog.key(), (id, Side::B));
        let relay_id = RelayId(0);
        // With TURN relays being allocated, the Lync leg's INVITE waits for them; until then
        // its client transaction id names no transaction.
        let mut client_hop = b_hop;
        let client_tx = if media.is_some() {
            TxId(self.next_id())
        } else {
            let (client_tx, hop) =
                self.send_fitting(Owner::Relay(id, relay_id), &mut b_invite, b_hop, large_over);
            client_hop = hop;
            client_tx
        };
        self.set_owner(tx, Owner::Relay(id, relay_id));
        let mut call = Call {
            id,
            tag: tag.clone(),
            route: route.name.clone(),
            turn,
            media,
            anchor,
            legs: [a_leg, b_leg],
            started_at: self.now,
            answered_at: None,
            relays: Default::default(),
            next_relay: 1,
            ending: None,
            session_policy,
            forks: Vec::new(),
            ended_forks: Vec::new(),
            headers: route.headers.clone(),
            route_index,
            listener_index,
            targets,
            attempts: Vec::new(),
            admission,
        };
        self.note_attempt(&mut call, destination);
        if call.media.is_none() {
            self.arm_failover(&call, relay_id);
        }
        call.relays.insert(
            relay_id,
            Relay {
                method: Method::INVITE,
                initial: true,
                server_side: Side::A,
                server_tx: tx,
                server_cseq: parsed.cseq.number,
                reply,
                server_had_body: !request.body.is_empty(),
                client_request: b_invite,
                client_tx,
                client_hop,
                got_provisional: false,
                no_answer_armed: false,
                cancel: CancelState::None,
                cancel_carries: Vec::new(),
            },
        );
        // A call from Lync: its offer names the far side's addresses.
        self.learn_lync_peers(&mut call, Side::A, &request.body);
        let status = call.status();
        self.call_tags.insert(call.tag.clone(), id);
        self.route_load[route_index].open(self.now, route.max_calls_per_second);
        self.listener_load[listener_index].open(self.now, listener_rate);
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
}

/// The B leg's Request-URI: the caller's, with the route's new user and host parts.
fn rewrite_uri(uri: &str, route: &RoutePlan) -> String {
    if route.rewrite_user.is_none() && route.rewrite_host.is_none() {
        return uri.to_owned();
    }
    let Ok(mut parsed) = Uri::parse(uri) else {
        return uri.to_owned();
    };
    if let Some(user) = &route.rewrite_user {
        parsed.user = Some(user.clone());
    }
    if let Some((host, port)) = &route.rewrite_host {
        parsed.host = host.trim_matches(['[', ']']).to_owned();
        parsed.port = *port;
    }
    parsed.to_string()
}
