//! From a datagram to the transaction, dialog or new call it belongs to, with the checks RFC
//! 3261 §8.2 makes before a request is acted on.

use std::net::SocketAddr;

use super::reply::ReplyTo;
use super::{ALLOW, B2bua, Owner, TxKey};
use crate::event::{DropReason, Event};
use crate::sip::{HeaderName, Message, Method, Parsed, Rejected, Response, StatusCode};
use crate::transaction::{TuNews, TxId, TxState};
use crate::{Receive, ids};

/// Option tags TwoLeg supports in `Require` (none yet: it answers 420 to any).
const SUPPORTED: &[&str] = &[];

/// Body types TwoLeg relays in an INVITE.
const ACCEPTED_BODIES: &[&str] = &[
    "application/sdp",
    "multipart/mixed",
    "multipart/alternative",
];

impl B2bua {
    pub(super) fn handle_receive(&mut self, receive: Receive<'_>) {
        self.counters.datagrams_in += 1;
        if crate::turn::looks_like_stun(receive.contents) {
            self.on_stun(receive);
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
                reason: DropReason::malformed(&rejected.error),
            });
            return;
        };
        let status = rejected.error.status();
        let tag = ids::tag(&mut self.rng);
        let response = reply.response(status, &rejected.error.to_string(), Some(&tag));
        self.transmit(local, reply.address, response.to_bytes());
        self.emit(Event::Refused {
            source,
            method: salvage.method.to_string(),
            status: status.code(),
            reason: rejected.error.to_string(),
            malformed: true,
        });
    }

    fn on_request(&mut self, source: SocketAddr, local: SocketAddr, parsed: Parsed) {
        let Message::Request(request) = &parsed.message else {
            return;
        };
        let method = request.method.clone();
        let top = &parsed.vias[0];
        let branch = server_branch(&parsed);
        let sent_by = top.sent_by();
        let lookup = |method: &str| TxKey::Server {
            branch: branch.clone(),
            sent_by: sent_by.clone(),
            method: method.to_owned(),
        };

        if method == Method::ACK {
            // An ACK for a non-2xx final belongs to the INVITE server transaction.
            if let Some(&id) = self.tx_index.get(&lookup("INVITE"))
                && matches!(
                    self.tx_state(id),
                    Some(TxState::Completed | TxState::Confirmed)
                )
            {
                let effects = self
                    .txs
                    .get_mut(&id)
                    .map(|e| e.tx.on_ack())
                    .unwrap_or_default();
                self.apply(id, effects, false);
                return;
            }
            self.on_dialog_ack(source, parsed);
            return;
        }

        // A retransmission of a request with an open server transaction.
        if let Some(&id) = self.tx_index.get(&lookup(method.as_str())) {
            let effects = self
                .txs
                .get_mut(&id)
                .map(|e| e.tx.on_retransmission())
                .unwrap_or_default();
            self.apply(id, effects, true);
            return;
        }

        let reply = ReplyTo::new(&parsed, source);
        let tx = self.open_server_tx(
            Owner::Engine,
            &method,
            (branch.clone(), sent_by.clone()),
            reply.address,
            local,
        );

        if method == Method::CANCEL {
            let target = self.tx_index.get(&lookup("INVITE")).copied();
            self.on_cancel(tx, &reply, target);
            return;
        }
        if let Some(status) = self.precheck(&parsed) {
            let mut response =
                reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
            match status {
                StatusCode::METHOD_NOT_ALLOWED => response.headers.push(HeaderName::ALLOW, ALLOW),
                StatusCode::SERVICE_UNAVAILABLE => {
                    response.headers.push(HeaderName::RETRY_AFTER, "60")
                }
                StatusCode::BAD_EXTENSION => {
                    let unsupported = unsupported_options(&parsed).join(", ");
                    response.headers.push(HeaderName::UNSUPPORTED, unsupported);
                }
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    response.headers.push(HeaderName::ACCEPT, "application/sdp")
                }
                _ => {}
            }
            self.refuse(tx, &response, source, &method);
            return;
        }
        if let Some(to_tag) = parsed.to.tag() {
            match self
                .dialogs
                .get(&(parsed.call_id.clone(), to_tag.to_owned()))
                .copied()
            {
                Some((call, side)) => self.on_dialog_request(call, side, tx, reply, parsed),
                None => {
                    let response = reply.response(
                        StatusCode::CALL_DOES_NOT_EXIST,
                        StatusCode::CALL_DOES_NOT_EXIST.reason(),
                        None,
                    );
                    self.refuse(tx, &response, source, &method);
                }
            }
            return;
        }
        match method {
            Method::INVITE => self.on_new_invite(source, local, tx, reply, parsed),
            Method::OPTIONS => {
                let mut response =
                    reply.response(StatusCode::OK, "OK", Some(&ids::tag(&mut self.rng)));
                response.headers.push(HeaderName::ALLOW, ALLOW);
                response.headers.push(HeaderName::ACCEPT, "application/sdp");
                response.headers.push(HeaderName::SUPPORTED, "");
                self.respond(tx, &response);
            }
            _ => {
                let status = StatusCode::CALL_DOES_NOT_EXIST;
                let response =
                    reply.response(status, status.reason(), Some(&ids::tag(&mut self.rng)));
                self.refuse(tx, &response, source, &method);
            }
        }
    }

    /// RFC 3261 §8.2.1–8.2.3 and §16.3 checks, in that order: the status to refuse with.
    fn precheck(&self, parsed: &Parsed) -> Option<StatusCode> {
        let Message::Request(request) = &parsed.message else {
            return None;
        };
        if !ALLOW.split(", ").any(|m| m == request.method.as_str()) {
            return Some(StatusCode::METHOD_NOT_ALLOWED);
        }
        if !parsed.request_uri.as_ref().is_some_and(|uri| uri.is_sip()) {
            return Some(StatusCode::UNSUPPORTED_URI_SCHEME);
        }
        if parsed.max_forwards == Some(0) {
            return Some(StatusCode::TOO_MANY_HOPS);
        }
        if parsed.to.tag().is_none() && request.method == Method::INVITE {
            let key = (
                parsed.call_id.clone(),
                parsed.from.tag().unwrap_or_default().to_owned(),
                parsed.cseq.number,
            );
            if self.merge_index.contains_key(&key) {
                return Some(StatusCode::LOOP_DETECTED);
            }
        }
        if !unsupported_options(parsed).is_empty() {
            return Some(StatusCode::BAD_EXTENSION);
        }
        if self.draining && request.method == Method::INVITE && parsed.to.tag().is_none() {
            return Some(StatusCode::SERVICE_UNAVAILABLE);
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
                return Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
        }
        None
    }

    /// Sends an error response through a fresh server transaction and reports it.
    pub(super) fn refuse(
        &mut self,
        tx: TxId,
        response: &Response,
        source: SocketAddr,
        method: &Method,
    ) {
        self.respond(tx, response);
        self.emit(Event::Refused {
            source,
            method: method.to_string(),
            status: response.status.code(),
            reason: response.status.reason().to_owned(),
            malformed: false,
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
        let owner = target.map(|entry| entry.owner);
        match owner {
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
            return;
        };
        let key = TxKey::Client {
            branch: parsed.vias[0].branch().unwrap_or_default().to_owned(),
            method: parsed.cseq.method.to_string(),
        };
        let Some(&id) = self.tx_index.get(&key) else {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::StrayResponse(format!("{} {}", response.status, parsed.cseq)),
            });
            return;
        };
        let status = response.status;
        let effects = self
            .txs
            .get_mut(&id)
            .map(|e| e.tx.on_response(status))
            .unwrap_or_default();
        if status.is_final()
            && let Some(entry) = self.txs.get_mut(&id)
            && entry.tx.ack.is_empty()
            && effects.contains(&crate::transaction::Effect::SendAck)
        {
            entry.tx.ack = non_2xx_ack(&entry.tx.last, &parsed);
        }
        let news = self.apply(id, effects, false);
        for (news, owner) in news {
            self.on_tx_news(id, owner, news, Some(&parsed));
        }
    }

    /// What a transaction's TU hears.
    pub(super) fn on_tx_news(
        &mut self,
        id: TxId,
        owner: Owner,
        news: TuNews,
        response: Option<&Parsed>,
    ) {
        match (owner, news, response) {
            (Owner::Relay(call, _), TuNews::Response, Some(parsed))
                if !self.calls.contains_key(&call) =>
            {
                // The call is over, but a 2xx to its INVITE still gets its ACK (RFC 3261
                // §13.2.2.4), and the dialog it made is hung up.
                let is_2xx =
                    matches!(&parsed.message, Message::Response(r) if r.status.is_success());
                if is_2xx
                    && parsed.cseq.method == Method::INVITE
                    && let Some(entry) = self.txs.get(&id)
                {
                    let (local, peer) = (entry.tx.local, entry.tx.peer);
                    self.ack_and_bye_orphan(local, peer, parsed);
                }
            }
            (Owner::Relay(call, relay), TuNews::Response, Some(parsed)) => {
                self.on_relay_response(call, relay, parsed)
            }
            (Owner::Relay(call, relay), TuNews::Timeout, _) => {
                self.on_relay_timeout(call, relay, id)
            }
            _ => {}
        }
    }
}

/// The key part that identifies a server transaction: the RFC 3261 branch, or for an RFC 2543
/// peer (no magic cookie) a key made of the Call-ID, From tag and CSeq number.
fn server_branch(parsed: &Parsed) -> String {
    let top = &parsed.vias[0];
    if top.has_rfc3261_branch() {
        return top.branch().unwrap_or_default().to_owned();
    }
    format!(
        "rfc2543:{}:{}:{}:{}",
        parsed.call_id,
        parsed.from.tag().unwrap_or_default(),
        parsed.cseq.number,
        top.branch().unwrap_or_default()
    )
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

/// The ACK an INVITE client transaction sends for a non-2xx final (RFC 3261 §17.1.1.3): the
/// INVITE's Request-URI, Call-ID, From, CSeq number, top Via and Route, the response's To.
fn non_2xx_ack(invite: &[u8], response: &Parsed) -> Vec<u8> {
    let Ok(parsed) = crate::sip::parse(invite, usize::MAX) else {
        return Vec::new();
    };
    let Message::Request(invite) = parsed.message else {
        return Vec::new();
    };
    let mut headers = crate::sip::Headers::new();
    if let Some(via) = invite.headers.get(&HeaderName::VIA) {
        headers.push(HeaderName::VIA, via);
    }
    headers.push(HeaderName::MAX_FORWARDS, "70");
    for route in invite.headers.get_all(&HeaderName::ROUTE) {
        headers.push(HeaderName::ROUTE, route);
    }
    headers.push(
        HeaderName::FROM,
        invite.headers.get(&HeaderName::FROM).unwrap_or_default(),
    );
    headers.push(HeaderName::TO, response.to.to_string());
    headers.push(HeaderName::CALL_ID, parsed.call_id);
    headers.push(HeaderName::CSEQ, format!("{} ACK", parsed.cseq.number));
    crate::sip::Request {
        method: Method::ACK,
        uri: invite.uri,
        headers,
        body: Vec::new(),
    }
    .to_bytes()
}
