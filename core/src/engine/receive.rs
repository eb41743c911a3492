//! From a datagram to the transaction, dialog or new call it belongs to, with the checks RFC
//! 3261 §8.2 makes before a request is acted on.

use std::net::SocketAddr;

use super::access::Screening;
use super::lingering::{Kept, Linger};
use super::transactions::News;
use super::{B2bua, Owner, SHUTDOWN_RETRY_AFTER_S, SUPPORTED, allow_header};
use crate::event::{DropReason, Event, Refusal};
use crate::hop::Hop;
use crate::sip::{Frame, FramingError};
use crate::sip::{HeaderName, Message, Method, Parsed, Rejected, ReplyTo, Response, StatusCode};
use crate::transaction::{DialogKey, MergeKey, TuNews, TxId, TxKey, TxState};
use crate::turn::Arrival;
use crate::{ConnectionId, Receive, Transport, ids};

/// Body types TwoLeg relays in an INVITE.
const ACCEPTED_BODIES: &[&str] = &[
    "application/sdp",
    "multipart/mixed",
    "multipart/alternative",
];

impl B2bua {
    pub(crate) fn handle_receive(&mut self, receive: Receive<'_>) {
        self.counters.datagrams_in += 1;
        if receive.transport == Transport::Udp && crate::turn::looks_like_stun(receive.contents) {
            self.on_stun(&receive);
            return;
        }
        let Some(listener) = self.config.listener(receive.destination, receive.transport) else {
            self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::UnknownListener(receive.destination),
            });
            return;
        };
        let arrival = Hop {
            transport: receive.transport,
            local: listener.address,
            peer: receive.source,
            connection: receive.connection,
            awaiting: None,
        };
        if receive.transport == Transport::Udp {
            self.on_message(arrival, receive.contents);
            return;
        }
        let Some(connection) = receive.connection else {
            self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::NoConnection,
            });
            return;
        };
        self.on_stream(arrival, connection, receive.contents);
    }

    /// Bytes read from a stream connection: every whole message in them (with what earlier
    /// reads left), keep-alives answered (RFC 5626 §3.5.1), the rest kept for the next read.
    fn on_stream(&mut self, arrival: Hop, connection: ConnectionId, contents: &[u8]) {
        let limit = self.config.max_message_size();
        let mut stream = self.streams.remove(&connection).unwrap_or_default();
        stream.extend_from_slice(contents);
        let mut at = 0;
        loop {
            match crate::sip::frame(&stream[at..], limit) {
                Frame::Incomplete => break,
                Frame::Skip(n) => at += n,
                Frame::Ping(n) => {
                    at += n;
                    self.transmit(&arrival, b"\r\n".to_vec());
                }
                Frame::Message(n) => {
                    let message = stream[at..at + n].to_vec();
                    at += n;
                    self.on_message(arrival, &message);
                }
                Frame::Error(error) => {
                    self.on_framing_error(arrival, connection, &stream[at..], error);
                    return;
                }
            }
        }
        stream.drain(..at);
        if !stream.is_empty() {
            self.streams.insert(connection, stream);
        }
    }

    /// A stream that cannot be framed: 400 to its request if one can be read from what came,
    /// then the connection is closed (RFC 3261 §18.3).
    fn on_framing_error(
        &mut self,
        arrival: Hop,
        connection: ConnectionId,
        bytes: &[u8],
        error: FramingError,
    ) {
        self.counters.parse_errors += 1;
        let head = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes, |end| &bytes[..end + 4]);
        // The headers alone, with a Content-Length of zero, to read what a 400 must echo.
        let salvage = match crate::sip::parse(head, usize::MAX) {
            Ok(parsed) => match &parsed.message {
                Message::Request(request) if request.method != Method::ACK => {
                    Some((request.method.clone(), ReplyTo::new(&parsed, arrival.peer)))
                }
                _ => None,
            },
            Err(rejected) => rejected
                .salvage
                .filter(|s| s.method != Method::ACK)
                .and_then(|s| {
                    ReplyTo::salvaged(&s.headers, &s.top_via, arrival.peer)
                        .map(|reply| (s.method.clone(), reply))
                }),
        };
        match salvage {
            Some((method, reply)) => {
                let status = StatusCode::BAD_REQUEST;
                let tag = ids::tag(&mut self.rng);
                let response = reply.response(status, &error.to_string(), Some(&tag));
                self.transmit(&arrival, response.to_bytes());
                self.emit(Event::Refused {
                    source: arrival.peer,
                    method,
                    status,
                    reason: Refusal::Framing(error),
                });
            }
            None => self.emit(Event::Dropped {
                source: arrival.peer,
                reason: DropReason::Framing(error),
            }),
        }
        self.emit(Event::CloseConnection {
            connection,
            reason: error,
        });
    }

    /// One whole message: a datagram, or one framed from a stream.
    fn on_message(&mut self, arrival: Hop, bytes: &[u8]) {
        match crate::sip::parse(bytes, self.config.max_message_size()) {
            Err(rejected) => self.on_malformed(arrival, rejected),
            Ok(parsed) if matches!(parsed.message, Message::Request(_)) => {
                self.on_request(arrival, parsed)
            }
            Ok(parsed) => self.on_response(arrival.peer, parsed),
        }
    }

    /// A STUN datagram: an answer to an allocation's request or to a health probe.
    fn on_stun(&mut self, receive: &Receive<'_>) {
        let arrival = self.allocations.handle_datagram(
            receive.destination,
            receive.source,
            receive.contents,
            self.now,
            &mut self.rng,
        );
        match arrival {
            Arrival::NotOurs => self.on_probe_answer(receive),
            Arrival::FromElsewhere => self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::StrayStun,
            }),
            Arrival::Stepped(owner) => {
                self.flush_allocations();
                if let Some(owner) = owner {
                    self.on_allocation_step(owner);
                }
            }
        }
    }

    /// A datagram that did not parse: an error response if it was a request that can be
    /// answered (never to an ACK), otherwise dropped with the reason.
    fn on_malformed(&mut self, arrival: Hop, rejected: Rejected) {
        self.counters.parse_errors += 1;
        let source = arrival.peer;
        let salvage = rejected.salvage.filter(|s| s.method != Method::ACK);
        let reply = salvage
            .as_ref()
            .and_then(|s| ReplyTo::salvaged(&s.headers, &s.top_via, source));
        let (Some(salvage), Some(reply)) = (salvage, reply) else {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::Malformed(rejected.error),
            });
            return;
        };
        let status = rejected.error.status();
        let tag = ids::tag(&mut self.rng);
        let response = reply.response(status, &rejected.error.to_string(), Some(&tag));
        self.transmit(&arrival.answering(reply.address), response.to_bytes());
        self.emit(Event::Refused {
            source,
            method: salvage.method.clone(),
            status,
            reason: Refusal::Malformed(rejected.error),
        });
    }

    fn on_request(&mut self, arrival: Hop, parsed: Parsed) {
        let source = arrival.peer;
        let Message::Request(request) = &parsed.message else {
            unreachable!("handle_receive sends only requests here");
        };
        let method = request.method.clone();

        if method == Method::ACK {
            // An ACK for a non-2xx final belongs to the INVITE server transaction.
            if let Some(&id) = self
                .tx_index
                .get(&TxKey::of_request(&parsed, Method::INVITE))
                && matches!(
                    self.tx_state(id),
                    Some(TxState::Completed | TxState::Confirmed)
                )
            {
                let effects = self.txs.get_mut(&id).map(|e| e.tx.on_ack());
                self.apply(id, effects.unwrap_or_default(), false);
                return;
            }
            self.on_dialog_ack(source, parsed);
            return;
        }

        // A retransmission of a request with an open server transaction.
        let key = TxKey::of_request(&parsed, method.clone());
        if let Some(&id) = self.tx_index.get(&key) {
            let effects = self.txs.get_mut(&id).map(|e| e.tx.on_retransmission());
            self.apply(id, effects.unwrap_or_default(), true);
            return;
        }
        match self.lingering.get(&key) {
            // Absorbed (RFC 6026: the 2xx is the TU's to retransmit).
            Some(Linger::AnsweredInvite { .. } | Linger::AcceptedInvite(_) | Linger::Absorbed) => {
                return;
            }
            Some(Linger::Answered(answered)) => {
                let hop = answered.hop;
                let response = match &answered.response {
                    Kept::Bytes(bytes) => bytes.to_vec(),
                    Kept::Plain { status, to_tag } => ReplyTo::new(&parsed, source)
                        .response(*status, status.reason(), to_tag.as_deref())
                        .to_bytes(),
                };
                self.retransmit(&hop, response);
                return;
            }
            None => {}
        }

        match self.screen(&parsed, source) {
            Screening::Pass => {}
            Screening::Dropped => return,
            Screening::Flooding(blocked_for) => {
                self.refuse_flooding(&arrival, &parsed, source, &method, blocked_for);
                return;
            }
        }
        let reply = ReplyTo::new(&parsed, source);
        let tx = self.open_server_tx(
            Owner::Engine,
            &method,
            key,
            arrival.answering(reply.address),
        );

        if method == Method::CANCEL {
            let invite = TxKey::of_request(&parsed, Method::INVITE);
            if let Some(Linger::AnsweredInvite { .. }) = self.lingering.get(&invite) {
                // RFC 3261 §9.2: the INVITE was answered; the CANCEL has no effect but gets 200.
                let response = reply.response(StatusCode::OK, "OK", None);
                self.respond(tx, &response);
                return;
            }
            let target = self
                .tx_index
                .get(&invite)
                .copied()
                .or_else(|| self.invite_by_branch(&invite));
            let carries = super::call::why_headers(parsed.message.headers());
            self.on_cancel(tx, &reply, target, carries);
            return;
        }
        if let Some(refusal) = self.precheck(&parsed) {
            let status = refusal_status(&refusal);
            let mut response =
                reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
            match &refusal {
                Refusal::MethodNotAllowed => {
                    response.headers.push(HeaderName::ALLOW, allow_header())
                }
                Refusal::ShuttingDown => response
                    .headers
                    .push(HeaderName::RETRY_AFTER, SHUTDOWN_RETRY_AFTER_S.to_string()),
                Refusal::BadExtension(options) => {
                    response
                        .headers
                        .push(HeaderName::UNSUPPORTED, options.join(", "));
                }
                Refusal::UnsupportedMediaType => {
                    response.headers.push(HeaderName::ACCEPT, "application/sdp")
                }
                _ => {}
            }
            self.refuse(tx, &response, source, &method, refusal);
            return;
        }
        if let Some(to_tag) = parsed.to.tag() {
            match self
                .dialogs
                .get(&DialogKey::new(&parsed.call_id, to_tag))
                .copied()
            {
                Some((call, side)) => self.on_dialog_request(call, side, tx, reply, parsed),
                None => {
                    let status = StatusCode::CALL_DOES_NOT_EXIST;
                    let response = reply.response(status, status.reason(), None);
                    self.refuse(tx, &response, source, &method, Refusal::NoSuchDialog);
                }
            }
            return;
        }
        match method {
            Method::INVITE => self.on_new_invite(arrival, tx, reply, parsed),
            Method::OPTIONS => {
                let mut response =
                    reply.response(StatusCode::OK, "OK", Some(&ids::tag(&mut self.rng)));
                response.headers.push(HeaderName::ALLOW, allow_header());
                response.headers.push(HeaderName::ACCEPT, "application/sdp");
                response
                    .headers
                    .push(HeaderName::SUPPORTED, SUPPORTED.join(", "));
                self.respond(tx, &response);
            }
            _ => {
                let status = StatusCode::CALL_DOES_NOT_EXIST;
                let response =
                    reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
                self.refuse(tx, &response, source, &method, Refusal::NoSuchDialog);
            }
        }
    }

    /// Whether an INVITE carries a Via of an INVITE TwoLeg sent and still waits on: it went
    /// round and came back (a route pointing at TwoLeg, directly or through a proxy).
    fn came_back(&self, parsed: &Parsed) -> bool {
        parsed
            .vias
            .iter()
            .filter_map(|via| via.branch())
            .any(|branch| {
                self.tx_index.contains_key(&TxKey::Client {
                    branch: branch.to_owned(),
                    method: Method::INVITE,
                })
            })
    }

    /// The INVITE server transaction a CANCEL names by its branch alone: a CANCEL whose Via
    /// sent-by a middlebox rewrote still cancels (the branch, with its magic cookie, is unique
    /// on its own).
    fn invite_by_branch(&self, key: &TxKey) -> Option<TxId> {
        let TxKey::Server { branch, .. } = key else {
            return None;
        };
        self.tx_index.iter().find_map(|(other, &id)| match other {
            TxKey::Server {
                branch: other,
                method: Method::INVITE,
                ..
            } if other == branch => Some(id),
            _ => None,
        })
    }

    /// RFC 3261 §8.2.1–8.2.3 and §16.3 checks, in that order: why to refuse, if at all.
    fn precheck(&self, parsed: &Parsed) -> Option<Refusal> {
        let Message::Request(request) = &parsed.message else {
            unreachable!("only requests are prechecked");
        };
        if !super::ALLOWED.contains(&request.method) {
            return Some(Refusal::MethodNotAllowed);
        }
        if !parsed.request_uri.as_ref().is_some_and(|uri| uri.is_sip()) {
            return Some(Refusal::UnsupportedUriScheme);
        }
        // §16.3 applies to what is forwarded: TwoLeg answers an OPTIONS outside a dialog and
        // a BYE itself (as a UAS, §8.2), whatever their Max-Forwards.
        let answered_here = request.method == Method::BYE
            || (request.method == Method::OPTIONS && parsed.to.tag().is_none());
        if parsed.max_forwards == Some(0) && !answered_here {
            return Some(Refusal::TooManyHops);
        }
        if parsed.to.tag().is_none()
            && request.method == Method::INVITE
            && self.merge_index.contains_key(&MergeKey::of(parsed))
        {
            return Some(Refusal::MergedRequest);
        }
        if parsed.to.tag().is_none() && request.method == Method::INVITE && self.came_back(parsed) {
            return Some(Refusal::Loop);
        }
        let unsupported = unsupported_options(parsed);
        if !unsupported.is_empty() {
            return Some(Refusal::BadExtension(unsupported));
        }
        if self.shutting_down && request.method == Method::INVITE && parsed.to.tag().is_none() {
            return Some(Refusal::ShuttingDown);
        }
        if request.method == Method::INVITE && !request.body.is_empty() {
            let kind = request
                .headers
                .get(&HeaderName::CONTENT_TYPE)
                .unwrap_or("application/sdp")
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !ACCEPTED_BODIES.contains(&kind.as_str()) {
                return Some(Refusal::UnsupportedMediaType);
            }
        }
        None
    }

    /// Sends an error response through a fresh server transaction and reports it.
    pub(crate) fn refuse(
        &mut self,
        tx: TxId,
        response: &Response,
        source: SocketAddr,
        method: &Method,
        reason: Refusal,
    ) {
        self.respond(tx, response);
        self.emit(Event::Refused {
            source,
            method: method.clone(),
            status: response.status,
            reason,
        });
    }

    /// Refuses a new INVITE with 503 and Retry-After (`retry_after` seconds), with a tag of
    /// its own, and reports why.
    pub(crate) fn refuse_unavailable(
        &mut self,
        tx: TxId,
        reply: &ReplyTo,
        source: SocketAddr,
        reason: &str,
        retry_after: u64,
        refusal: Refusal,
    ) {
        let tag = ids::tag(&mut self.rng);
        let mut response = reply.response(StatusCode::SERVICE_UNAVAILABLE, reason, Some(&tag));
        response
            .headers
            .push(HeaderName::RETRY_AFTER, retry_after.to_string());
        self.refuse(tx, &response, source, &Method::INVITE, refusal);
    }

    /// A CANCEL: `carries`, what it says of why, goes on with the CANCEL TwoLeg sends.
    fn on_cancel(
        &mut self,
        tx: TxId,
        reply: &ReplyTo,
        target: Option<TxId>,
        carries: Vec<(HeaderName, String)>,
    ) {
        if let Some(invite) = target
            && self.cancel_parked(tx, reply, invite)
        {
            return;
        }
        let target = target.and_then(|id| self.txs.get(&id));
        // RFC 3261 §9.2: a CANCEL for a transaction already answered has no effect, but is
        // answered 200 all the same.
        if target.is_some_and(|entry| entry.tx.state != TxState::Proceeding) {
            let response = reply.response(StatusCode::OK, "OK", None);
            self.respond(tx, &response);
            return;
        }
        match target.map(|entry| entry.owner) {
            Some(Owner::Relay(call, relay)) => {
                self.set_owner(tx, Owner::Call(call));
                // §9.2: the CANCEL's 200 carries the To-tag the INVITE's 487 will carry.
                let tag = self.calls.get(&call).and_then(|call| {
                    let side = call.relays.get(&relay)?.server_side;
                    Some(call.leg(side).dialog.local_tag.clone())
                });
                let response = reply.response(StatusCode::OK, "OK", tag.as_deref());
                self.respond(tx, &response);
                self.cancel_relay(call, relay, "CANCEL from caller", carries);
            }
            _ => {
                let status = StatusCode::CALL_DOES_NOT_EXIST;
                let response =
                    reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
                self.respond(tx, &response);
            }
        }
    }

    fn on_response(&mut self, source: SocketAddr, parsed: Parsed) {
        let Message::Response(response) = &parsed.message else {
            unreachable!("handle_receive sends only responses here");
        };
        let key = TxKey::of_response(&parsed);
        if let Some(Linger::Absorbed) = self.lingering.get(&key) {
            // A retransmitted final response to a request of ours (Timer K).
            return;
        }
        if let Some(Linger::AcceptedInvite(accepted)) = self.lingering.get(&key) {
            // A retransmitted or forked 2xx goes to the TU (RFC 6026 §8.4); anything else is
            // absorbed.
            if response.status.is_success() {
                let news = News {
                    news: TuNews::Response,
                    owner: accepted.owner,
                    hop: accepted.hop,
                };
                self.on_tx_news(news, Some(&parsed));
            }
            return;
        }
        let Some(&id) = self.tx_index.get(&key) else {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::StrayResponse {
                    status: response.status,
                    cseq: parsed.cseq.to_string(),
                },
            });
            return;
        };
        self.on_client_response(id, &parsed);
    }

    /// What a transaction's TU hears.
    pub(crate) fn on_tx_news(&mut self, news: News, response: Option<&Parsed>) {
        match (news.owner, news.news, response) {
            (Owner::Relay(call, _), TuNews::Response, Some(parsed))
                if !self.calls.contains_key(&call) =>
            {
                // The call is over, but a 2xx to its INVITE still gets its ACK (RFC 3261
                // §13.2.2.4), and the dialog it made is hung up.
                let is_2xx =
                    matches!(&parsed.message, Message::Response(r) if r.status.is_success());
                if is_2xx && parsed.cseq.method == Method::INVITE {
                    self.ack_and_bye_orphan(news.hop, parsed);
                }
            }
            (Owner::Relay(call, relay), TuNews::Response, Some(parsed)) => {
                self.on_relay_response(call, relay, parsed)
            }
            (Owner::Relay(call, relay), TuNews::Timeout, _) => {
                self.on_relay_lost(call, relay, StatusCode::REQUEST_TIMEOUT)
            }
            (Owner::Relay(call, relay), TuNews::TransportError, _) => {
                self.on_relay_lost(call, relay, StatusCode::SERVICE_UNAVAILABLE)
            }
            (Owner::Refresh(call, side), TuNews::Response, Some(parsed)) => {
                self.on_refresh_response(call, side, parsed)
            }
            (Owner::Refresh(call, side), TuNews::Timeout | TuNews::TransportError, _) => {
                self.on_refresh_lost(call, side)
            }
            (Owner::Abandoned(serial), TuNews::Response, Some(parsed)) => {
                self.on_abandoned_response(serial, news.hop, parsed)
            }
            (Owner::Abandoned(serial), TuNews::Timeout | TuNews::TransportError, _) => {
                self.on_abandoned_lost(serial)
            }
            (Owner::Ping(route, index), TuNews::Response, Some(parsed)) => {
                if let Message::Response(response) = &parsed.message {
                    self.on_ping_news(route, index, news.hop.peer, Some(response));
                }
            }
            (Owner::Ping(route, index), TuNews::Timeout | TuNews::TransportError, _) => {
                self.on_ping_news(route, index, news.hop.peer, None)
            }
            _ => {}
        }
    }
}

/// The status a refusal is answered with.
fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::Malformed(error) => error.status(),
        Refusal::Framing(_) => StatusCode::BAD_REQUEST,
        Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::UnsupportedUriScheme => StatusCode::UNSUPPORTED_URI_SCHEME,
        Refusal::TooManyHops => StatusCode::TOO_MANY_HOPS,
        Refusal::MergedRequest => StatusCode::LOOP_DETECTED,
        Refusal::BadExtension(_) => StatusCode::BAD_EXTENSION,
        Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::NoRoute => StatusCode::NOT_FOUND,
        Refusal::NoSuchDialog => StatusCode::CALL_DOES_NOT_EXIST,
        Refusal::MediaPolicy(violation) => {
            StatusCode::new(violation.status()).unwrap_or(StatusCode::NOT_ACCEPTABLE_HERE)
        }
        Refusal::EncryptionB2buaBusy => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::SessionIntervalTooSmall => StatusCode::SESSION_INTERVAL_TOO_SMALL,
        Refusal::Loop => StatusCode::LOOP_DETECTED,
        Refusal::RouteBusy => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::NoDestination => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::ListenerBusy => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Forbidden => StatusCode::FORBIDDEN,
        Refusal::Unauthenticated(_) => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        Refusal::Flooding => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn unsupported_options(parsed: &Parsed) -> Vec<String> {
    parsed
        .message
        .headers()
        .get_all(&HeaderName::REQUIRE)
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|option| !option.is_empty() && !SUPPORTED.contains(option))
        .map(str::to_owned)
        .collect()
}
