//! From a datagram to the transaction, dialog or new call it belongs to, with the checks RFC
//! 3261 §8.2 makes before a request is acted on.

use std::net::SocketAddr;

use super::lingering::{Kept, Linger};
use super::transactions::News;
use super::{B2bua, Owner, SHUTDOWN_RETRY_AFTER_S, allow_header};
use crate::event::{DropReason, Event, Refusal};
use crate::sip::{HeaderName, Message, Method, Parsed, Rejected, ReplyTo, Response, StatusCode};
use crate::transaction::{DialogKey, MergeKey, TuNews, TxId, TxKey, TxState};
use crate::turn::Arrival;
use crate::{Receive, Transport, ids};

/// Option tags TwoLeg supports in `Require` (none yet: it answers 420 to any).
const SUPPORTED: &[&str] = &[];

/// Body types TwoLeg relays in an INVITE.
const ACCEPTED_BODIES: &[&str] = &[
    "application/sdp",
    "multipart/mixed",
    "multipart/alternative",
];

impl B2bua {
    pub(crate) fn handle_receive(&mut self, receive: Receive<'_>) {
        self.counters.datagrams_in += 1;
        if receive.transport != Transport::Udp {
            self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::UnsupportedTransport(receive.transport),
            });
            return;
        }
        if crate::turn::looks_like_stun(receive.contents) {
            self.on_stun(&receive);
            return;
        }
        let Some(local) = self
            .config
            .listeners()
            .iter()
            .map(|l| l.address)
            .find(|address| *address == receive.destination)
        else {
            self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::UnknownListener(receive.destination),
            });
            return;
        };
        match crate::sip::parse(receive.contents, self.config.max_message_size()) {
            Err(rejected) => self.on_malformed(receive.source, local, rejected),
            Ok(parsed) if matches!(parsed.message, Message::Request(_)) => {
                self.on_request(receive.source, local, parsed)
            }
            Ok(parsed) => self.on_response(receive.source, parsed),
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
    fn on_malformed(&mut self, source: SocketAddr, local: SocketAddr, rejected: Rejected) {
        self.counters.parse_errors += 1;
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
        self.transmit(local, reply.address, response.to_bytes());
        self.emit(Event::Refused {
            source,
            method: salvage.method.clone(),
            status,
            reason: Refusal::Malformed(rejected.error),
        });
    }

    fn on_request(&mut self, source: SocketAddr, local: SocketAddr, parsed: Parsed) {
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
                let (local, peer) = (answered.local, answered.peer);
                let response = match &answered.response {
                    Kept::Bytes(bytes) => bytes.to_vec(),
                    Kept::Plain { status, to_tag } => ReplyTo::new(&parsed, source)
                        .response(*status, status.reason(), to_tag.as_deref())
                        .to_bytes(),
                };
                self.retransmit(local, peer, response);
                return;
            }
            None => {}
        }

        let reply = ReplyTo::new(&parsed, source);
        let tx = self.open_server_tx(Owner::Engine, &method, key, reply.address, local);

        if method == Method::CANCEL {
            let invite = TxKey::of_request(&parsed, Method::INVITE);
            if let Some(Linger::AnsweredInvite { .. }) = self.lingering.get(&invite) {
                // RFC 3261 §9.2: the INVITE was answered; the CANCEL has no effect but gets 200.
                let response = reply.response(StatusCode::OK, "OK", None);
                self.respond(tx, &response);
                return;
            }
            let target = self.tx_index.get(&invite).copied();
            self.on_cancel(tx, &reply, target);
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
            Method::INVITE => self.on_new_invite(source, local, tx, reply, parsed),
            Method::OPTIONS => {
                let mut response =
                    reply.response(StatusCode::OK, "OK", Some(&ids::tag(&mut self.rng)));
                response.headers.push(HeaderName::ALLOW, allow_header());
                response.headers.push(HeaderName::ACCEPT, "application/sdp");
                response.headers.push(HeaderName::SUPPORTED, "");
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
        if parsed.max_forwards == Some(0) {
            return Some(Refusal::TooManyHops);
        }
        if parsed.to.tag().is_none()
            && request.method == Method::INVITE
            && self.merge_index.contains_key(&MergeKey::of(parsed))
        {
            return Some(Refusal::MergedRequest);
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

    fn on_cancel(&mut self, tx: TxId, reply: &ReplyTo, target: Option<TxId>) {
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
                let response = reply.response(StatusCode::OK, "OK", None);
                self.respond(tx, &response);
                self.cancel_relay(call, relay, "CANCEL from caller");
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
                    local: accepted.local,
                    peer: accepted.peer,
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
                    self.ack_and_bye_orphan(news.local, news.peer, parsed);
                }
            }
            (Owner::Relay(call, relay), TuNews::Response, Some(parsed)) => {
                self.on_relay_response(call, relay, parsed)
            }
            (Owner::Relay(call, relay), TuNews::Timeout, _) => self.on_relay_timeout(call, relay),
            _ => {}
        }
    }
}

/// The status a refusal is answered with.
fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::Malformed(error) => error.status(),
        Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::UnsupportedUriScheme => StatusCode::UNSUPPORTED_URI_SCHEME,
        Refusal::TooManyHops => StatusCode::TOO_MANY_HOPS,
        Refusal::MergedRequest => StatusCode::LOOP_DETECTED,
        Refusal::BadExtension(_) => StatusCode::BAD_EXTENSION,
        Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::NoRoute => StatusCode::NOT_FOUND,
        Refusal::NoSuchDialog => StatusCode::CALL_DOES_NOT_EXIST,
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
