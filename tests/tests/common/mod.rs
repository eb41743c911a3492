//! A hand-driven peer for behaviour tests: the test plays caller and callee with literal SIP
//! text, the engine runs in virtual time, and every datagram it sends is kept for assertions.
//!
//! Flows that need retransmitting peers use the simulator (`twoleg_sim::Sim`) instead.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

#[allow(unused_imports)]
pub use twoleg_core::PendingWork;
use twoleg_core::config::ValidConfig;
use twoleg_core::sip::{HeaderName, Message, Parsed, parse};
use twoleg_core::status::CallRecord;
use twoleg_core::{B2bua, Event, Instant};
pub use twoleg_core::{ConnectionId, Transport};
use twoleg_sim::{Driver, SimTurnServer};

pub const B2BUA: &str = "127.0.0.1:5060";
pub const CALLER: &str = "127.0.0.1:5080";
pub const CALLEE: &str = "127.0.0.1:5070";

/// A config with T1 = 500 ms and the default route to the callee.
pub fn config() -> ValidConfig {
    ValidConfig::default_config()
}

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a test address")
}

/// One datagram the engine sent.
#[derive(Clone, Debug)]
pub struct Msg {
    pub at: Instant,
    pub transport: Transport,
    pub connection: Option<ConnectionId>,
    pub from: SocketAddr,
    pub to: SocketAddr,
    /// Over TLS: the name the peer's certificate must carry.
    pub server_name: Option<String>,
    pub text: String,
    pub parsed: Parsed,
}

impl Msg {
    pub fn start_line(&self) -> &str {
        self.text.split("\r\n").next().unwrap_or_default()
    }

    pub fn status(&self) -> Option<u16> {
        match &self.parsed.message {
            Message::Response(r) => Some(r.status.code()),
            Message::Request(_) => None,
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.parsed.message {
            Message::Request(r) => Some(r.method.as_str()),
            Message::Response(_) => None,
        }
    }

    /// Whether this is a request with this method, or a response to one.
    pub fn is(&self, what: &str) -> bool {
        self.method() == Some(what) || self.status().is_some_and(|s| s.to_string() == what)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.parsed.message.headers().get(&HeaderName::parse(name))
    }

    pub fn headers(&self, name: &str) -> Vec<&str> {
        let name = HeaderName::parse(name);
        self.parsed
            .message
            .headers()
            .iter()
            .filter(|(n, _)| **n == name)
            .map(|(_, v)| v)
            .collect()
    }

    pub fn body(&self) -> &[u8] {
        self.parsed.message.body()
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.parsed.to.tag()
    }

    pub fn tag_of_from(&self) -> Option<&str> {
        self.parsed.from.tag()
    }

    pub fn branch(&self) -> &str {
        self.parsed.vias[0].branch().unwrap_or_default()
    }

    /// The callee's 200 OK to this request, with its Contact and `body` as SDP.
    pub fn answer(&self, to_tag: Option<&str>, body: &str) -> String {
        let contact = format!("Contact: <sip:bob@{CALLEE}>\r\n");
        self.reply(200, "OK", to_tag, &contact, body)
    }

    /// A response to this request, as a peer would write it.
    pub fn reply(
        &self,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &str,
        body: &str,
    ) -> String {
        let mut text = format!("SIP/2.0 {status} {reason}\r\n");
        for via in self.headers("Via") {
            text.push_str(&format!("Via: {via}\r\n"));
        }
        text.push_str(&format!("From: {}\r\n", self.header("From").unwrap()));
        let to = self.header("To").unwrap();
        match to_tag {
            Some(tag) if self.to_tag().is_none() => {
                text.push_str(&format!("To: {to};tag={tag}\r\n"))
            }
            _ => text.push_str(&format!("To: {to}\r\n")),
        }
        text.push_str(&format!("Call-ID: {}\r\n", self.parsed.call_id));
        text.push_str(&format!("CSeq: {}\r\n", self.parsed.cseq));
        text.push_str(extra);
        if !body.is_empty() {
            text.push_str("Content-Type: application/sdp\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        text
    }
}

/// The engine and the test's view of the wire.
pub struct Net {
    driver: Driver<B2bua>,
    pub sent: Vec<Msg>,
    pub events: Vec<Event>,
    /// Error responses whose echoed headers are as malformed as the request they answer.
    pub echoed_errors: Vec<String>,
    /// STUN/TURN datagrams the engine sent: from, to, what they are, their bytes.
    pub stun: Vec<(SocketAddr, SocketAddr, String, Vec<u8>)>,
    /// Simulated TURN servers answering at once, one per configured combination; a test may
    /// remove one to make it unreachable.
    pub turn_servers: BTreeMap<SocketAddr, SimTurnServer>,
    /// A peer message handed in that rsip cannot read (a torture message): from then on, a
    /// message TwoLeg writes that rsip cannot read is counted rather than failed, since it may
    /// echo that text (readings that differ still fail).
    peer_text_rsip_refuses: bool,
    /// Messages TwoLeg wrote that rsip could not read, tolerated as above.
    pub rsip_unreadable: usize,
    /// Keep-alive pongs (CRLF) the engine sent: to where, on which connection.
    pub pongs: Vec<(SocketAddr, Option<ConnectionId>)>,
    /// The DNS the engine's queries are answered from, at once unless `hold_dns`.
    pub dns: Vec<twoleg_sim::DnsEntry>,
    /// Queries are kept in `dns_queries` instead of being answered.
    pub hold_dns: bool,
    /// Every query the engine asked, in order.
    pub dns_queries: Vec<twoleg_core::dns::DnsQuery>,
    /// Names and types whose lookups fail (SERVFAIL) instead of being answered from `dns`.
    pub fail_dns: Vec<(String, twoleg_core::dns::RecordKind)>,
    cursor: usize,
}

impl Net {
    pub fn new(config: ValidConfig) -> Self {
        Self::with_seed(config, 7)
    }

    /// An engine whose lookups are answered from `dns` from its very start.
    pub fn with_dns(config: ValidConfig, dns: Vec<twoleg_sim::DnsEntry>) -> Self {
        Self::build(config, 7, dns)
    }

    /// An engine drawing its random choices from `seed`.
    pub fn with_seed(config: ValidConfig, seed: u64) -> Self {
        Self::build(config, seed, Vec::new())
    }

    fn build(config: ValidConfig, seed: u64, dns: Vec<twoleg_sim::DnsEntry>) -> Self {
        let turn_servers = config
            .turn_servers()
            .iter()
            .map(|(id, e, _)| {
                let first_port = 49_152 + 100 * id.0 as u16;
                let server =
                    SimTurnServer::new(e.address, &e.username, e.password.expose(), first_port);
                (e.address, server)
            })
            .collect();
        let driver = Driver::new(B2bua::new(config, Instant::ZERO, seed), Instant::ZERO)
            .expect("a new engine takes no input");
        let mut net = Self {
            driver,
            sent: Vec::new(),
            events: Vec::new(),
            echoed_errors: Vec::new(),
            stun: Vec::new(),
            turn_servers,
            peer_text_rsip_refuses: false,
            rsip_unreadable: 0,
            pongs: Vec::new(),
            dns,
            hold_dns: false,
            dns_queries: Vec::new(),
            fail_dns: Vec::new(),
            cursor: 0,
        };
        net.drain();
        net
    }

    /// The engine.
    pub fn engine(&self) -> &B2bua {
        self.driver.engine()
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.driver.now()
    }

    /// The engine receives `text` from `from` on its first listener.
    pub fn send(&mut self, from: &str, text: &str) {
        self.send_to(from, B2BUA, text);
    }

    pub fn send_to(&mut self, from: &str, listener: &str, text: &str) {
        self.send_bytes(from, listener, text.as_bytes());
    }

    /// The engine receives raw bytes.
    pub fn send_bytes(&mut self, from: &str, listener: &str, contents: &[u8]) {
        if !twoleg_tests::oracle::rsip_reads(contents) && contents.first() != Some(&0) {
            self.peer_text_rsip_refuses = true;
        }
        self.driver
            .receive(addr(from), addr(listener), contents)
            .expect("time moves forward");
        self.drain();
    }

    /// The engine reads `text` from a stream connection (TCP unless `tls`) to `listener`.
    pub fn send_stream(
        &mut self,
        transport: Transport,
        connection: u64,
        from: &str,
        listener: &str,
        bytes: &[u8],
    ) {
        self.driver
            .receive_stream(
                transport,
                ConnectionId(connection),
                addr(from),
                addr(listener),
                bytes,
            )
            .expect("time moves forward");
        self.drain();
    }

    /// A stream connection closed.
    pub fn close(&mut self, connection: u64) {
        self.driver
            .close(ConnectionId(connection))
            .expect("time moves forward");
        self.drain();
    }

    /// The host could not deliver to `to` over `transport`.
    pub fn undeliverable(&mut self, transport: Transport, to: &str) {
        self.driver
            .undeliverable(transport, addr(to))
            .expect("time moves forward");
        self.drain();
    }

    /// Disconnects a live call as the admin API does.
    pub fn disconnect(&mut self, tag: &str) -> Result<(), twoleg_core::Error> {
        let result = self
            .driver
            .command(|engine, now| engine.disconnect(now, tag))
            .expect("time moves forward");
        self.drain();
        result
    }

    /// Starts a graceful shutdown.
    pub fn shut_down(&mut self) {
        self.driver
            .command(|engine, now| engine.shut_down(now))
            .expect("time moves forward")
            .expect("time moves forward");
        self.drain();
    }

    /// Lets virtual time pass, firing every deadline on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.driver.now() + by;
        loop {
            let deadline = self.driver.deadline();
            if deadline > target {
                break;
            }
            self.driver.advance_to(deadline).expect("no livelock");
            self.drain();
        }
        self.driver.advance_to(target).expect("no livelock");
        self.drain();
    }

    fn drain(&mut self) {
        let mut answers = Vec::new();
        while let Some((at, t)) = self.driver.pop_transmit() {
            if let Some(what) = twoleg_core::turn::describe(&t.contents) {
                self.stun
                    .push((t.source, t.destination, what, t.contents.clone()));
                if let Some(server) = self.turn_servers.get_mut(&t.destination)
                    && let Some(answer) = server.handle(t.source, &t.contents)
                {
                    answers.push((t.destination, t.source, answer));
                }
                continue;
            }
            if t.contents == b"\r\n" {
                self.pongs.push((t.destination, t.connection));
                continue;
            }
            let text = String::from_utf8(t.contents.clone()).expect("the engine writes UTF-8");
            let parsed = match parse(&t.contents, 65_535) {
                Ok(parsed) => parsed,
                // A 400 or 505 echoes the malformed request's headers (RFC 3261 §8.2.6).
                Err(_) if text.starts_with("SIP/2.0 400 ") || text.starts_with("SIP/2.0 505 ") => {
                    self.echoed_errors.push(text);
                    continue;
                }
                Err(e) => panic!(
                    "the engine sent something unparseable ({}):\n{text}",
                    e.error
                ),
            };
            if twoleg_tests::oracle::check(&t.contents, self.peer_text_rsip_refuses)
                == twoleg_tests::oracle::Verdict::RsipCannotRead
            {
                self.rsip_unreadable += 1;
            }
            self.sent.push(Msg {
                at,
                transport: t.transport,
                connection: t.connection,
                from: t.source,
                to: t.destination,
                server_name: t.server_name.clone(),
                text,
                parsed,
            });
        }
        let events = self.driver.take_events();
        let mut queries = Vec::new();
        for (_, event) in &events {
            if let Event::Resolve(query) = event {
                self.dns_queries.push(query.clone());
                queries.push(query.clone());
            }
        }
        self.events.extend(events.into_iter().map(|(_, e)| e));
        if !self.hold_dns {
            for query in queries {
                self.answer_dns(&query);
            }
        }
        for (source, destination, contents) in answers {
            self.driver
                .receive(source, destination, &contents)
                .expect("time moves forward");
            self.drain();
        }
    }

    /// Datagrams sent since the last call, in order.
    pub fn take(&mut self) -> Vec<Msg> {
        let new = self.sent[self.cursor..].to_vec();
        self.cursor = self.sent.len();
        new
    }

    /// Datagrams sent since the last call to `to`.
    pub fn take_to(&mut self, to: &str) -> Vec<Msg> {
        let to = addr(to);
        self.take().into_iter().filter(|m| m.to == to).collect()
    }

    /// The one message (since the last take) to `to` that is `what` (a method or a status).
    pub fn expect_one(&mut self, to: &str, what: &str) -> Msg {
        let all = self.take();
        let found: Vec<Msg> = all
            .iter()
            .filter(|m| m.to == addr(to) && m.is(what))
            .cloned()
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {what} to {to}, got: {:#?}",
            all.iter()
                .map(|m| (m.to, m.start_line().to_owned()))
                .collect::<Vec<_>>()
        );
        found.into_iter().next().unwrap()
    }

    /// Answers a query from `dns` (no entry: no records, remembered 30 s).
    pub fn answer_dns(&mut self, query: &twoleg_core::dns::DnsQuery) {
        let mut answer = twoleg_sim::DnsEntry::answer(&self.dns, query);
        if self
            .fail_dns
            .iter()
            .any(|(name, kind)| *kind == query.kind && name.eq_ignore_ascii_case(&query.name))
        {
            answer.records.clear();
            answer.failed = true;
            answer.negative_ttl_s = 5;
        }
        self.driver.resolved(answer).expect("time moves forward");
        self.drain();
    }

    /// Every DNS query so far: name and record type, in order.
    pub fn queries(&self) -> Vec<(&str, twoleg_core::dns::RecordKind)> {
        self.dns_queries
            .iter()
            .map(|q| (q.name.as_str(), q.kind))
            .collect()
    }

    /// Where every TLS message so far went, with the certificate name it asked for.
    pub fn tls_transmits(&self) -> Vec<(SocketAddr, Option<String>)> {
        self.sent
            .iter()
            .filter(|m| m.transport == Transport::Tls)
            .map(|m| (m.to, m.server_name.clone()))
            .collect()
    }

    pub fn history(&self) -> Vec<CallRecord> {
        self.engine().history().iter().cloned().collect()
    }
}

pub const SDP: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
pub const SDP_ANSWER: &str = "v=0\r\no=callee 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n";

/// An INVITE from the caller.
pub fn invite(
    call_id: &str,
    branch: &str,
    cseq: u32,
    max_forwards: u32,
    extra: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch={branch};rport\r\n\
         Max-Forwards: {max_forwards}\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=alice-tag\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:alice@{CALLER}>\r\n\
         {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An in-dialog request from the caller on leg A (To carries TwoLeg's tag).
pub fn caller_request(
    method: &str,
    call_id: &str,
    branch: &str,
    cseq: u32,
    to_tag: &str,
    extra: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:twoleg@{B2BUA} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=alice-tag\r\n\
         To: <sip:bob@example.com>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@{CALLER}>\r\n\
         {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The CANCEL of the caller's INVITE.
pub fn cancel(call_id: &str, branch: &str, cseq: u32) -> String {
    format!(
        "CANCEL sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=alice-tag\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} CANCEL\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// An in-dialog request from the callee on leg B, built from the B-leg INVITE it received.
pub fn callee_request(
    method: &str,
    b_invite: &Msg,
    callee_tag: &str,
    branch: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let contact = b_invite.parsed.contacts[0].uri.clone();
    format!(
        "{method} {contact} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLEE};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: {};tag={callee_tag}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:bob@{CALLEE}>\r\n\
         {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        b_invite.header("To").unwrap(),
        b_invite.header("From").unwrap(),
        b_invite.parsed.call_id,
        body.len()
    )
}

/// The ACK the caller sends for a 2xx on leg A.
pub fn caller_ack(call_id: &str, cseq: u32, to_tag: &str, body: &str) -> String {
    caller_request(
        "ACK",
        call_id,
        &format!("z9hG4bKack{cseq}"),
        cseq,
        to_tag,
        "",
        body,
    )
}

/// A call set up to the answered state: returns (A-leg 200, B-leg INVITE).
pub fn answered_call(net: &mut Net, call_id: &str) -> (Msg, Msg) {
    net.send(CALLER, &invite(call_id, "z9hG4bKinv1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(
            180,
            "Ringing",
            Some("bob-tag"),
            &format!("Contact: <sip:bob@{CALLEE}>\r\n"),
            "",
        ),
    );
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let a_ok = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .expect("200 on leg A");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack(call_id, 1, &tag, ""));
    net.take();
    (a_ok, b_invite)
}
