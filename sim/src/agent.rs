//! A scripted SIP user agent for the simulator: places calls as a caller, takes them as a
//! callee, and retransmits over lossy links as RFC 3261 requires of a UA on UDP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::script::{CalleeScript, CallerScript};
use twoleg_core::Instant;
use twoleg_core::ids;
use twoleg_core::scheduler::Scheduler;
use twoleg_core::sip::ReplyTo;
use twoleg_core::sip::{
    HeaderName, Headers, Message, Method, NameAddr, Parsed, Request, Response, StatusCode, Via,
};

/// The header that carries the callee's script through the B2BUA.
pub const SCRIPT_HEADER: &str = "X-Sim-Callee";

const SDP_OFFER: &str = "v=0\r\no=sim 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
const SDP_ANSWER: &str = "v=0\r\no=sim 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n";

/// Which end of a call a scripted agent was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It placed the call.
    Caller,
    /// It took the call.
    Callee,
}

/// What happened to one call at one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentCall {
    /// The Call-ID on the agent's leg.
    pub call_id: String,
    /// Caller or callee.
    pub role: Role,
    /// The final status of the INVITE (received by a caller, sent by a callee).
    pub final_status: Option<u16>,
    /// When it was answered.
    pub answered_at: Option<Instant>,
    /// When it ended at this agent.
    pub ended_at: Option<Instant>,
    /// How it ended, in words.
    pub how: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Invite,
    Cancel,
    Bye,
    ReInvite,
    /// The 2xx to an INVITE or re-INVITE, until its ACK.
    Success,
    /// A non-2xx final to an INVITE, until its ACK.
    Failure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Start,
    Cancel,
    HangUp,
    ReInvite,
    Answer,
    Retransmit(Kind),
    GiveUp(Kind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Calling,
    Ringing,
    Answered,
    Confirmed,
    Cancelling,
    Ended,
}

#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    interval: Duration,
    cap: Duration,
}

#[derive(Debug)]
struct Session {
    record: AgentCall,
    state: State,
    caller: CallerScript,
    callee: Option<CalleeScript>,
    local_tag: String,
    remote_tag: Option<String>,
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    cseq: u32,
    invite_branch: String,
    invite_cseq: u32,
    /// For a callee: how to answer the INVITE.
    reply: Option<ReplyTo>,
    invite_had_sdp: bool,
    last_response: Vec<u8>,
    pending: BTreeMap<Kind, Pending>,
    /// The last ACK sent for a 2xx (caller), re-sent on 2xx retransmissions.
    last_ack: Vec<u8>,
    /// The script wants to cancel, but no provisional response came yet.
    cancel_wanted: bool,
}

/// A scripted user agent at one address.
#[derive(Debug)]
pub(crate) struct Agent {
    address: SocketAddr,
    /// Where callers send their INVITEs: the B2BUA's listener.
    proxy: SocketAddr,
    t1: Duration,
    t2: Duration,
    rng: ChaCha8Rng,
    sessions: BTreeMap<u64, Session>,
    by_call_id: BTreeMap<String, u64>,
    timers: Scheduler<(u64, Timer)>,
    /// Responses to non-INVITE requests, re-sent when the request is retransmitted.
    answered: BTreeMap<(String, u32, String), Vec<u8>>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    next_session: u64,
    now: Instant,
}

impl Agent {
    pub(crate) fn new(
        address: SocketAddr,
        proxy: SocketAddr,
        t1: Duration,
        t2: Duration,
        seed: u64,
    ) -> Self {
        Self {
            address,
            proxy,
            t1,
            t2,
            rng: ChaCha8Rng::seed_from_u64(seed),
            sessions: BTreeMap::new(),
            by_call_id: BTreeMap::new(),
            timers: Scheduler::new(),
            answered: BTreeMap::new(),
            outbox: Vec::new(),
            next_session: 0,
            now: Instant::ZERO,
        }
    }

    /// Schedules a call from this agent.
    pub(crate) fn place_call(
        &mut self,
        at: Instant,
        caller: CallerScript,
        callee: CalleeScript,
    ) -> String {
        let id = self.next_session;
        self.next_session += 1;
        let call_id = format!("sim{id}-{}", ids::tag(&mut self.rng));
        let uri = caller
            .uri
            .clone()
            .unwrap_or_else(|| "sip:callee@example.com".to_owned());
        let session = Session {
            record: AgentCall {
                call_id: call_id.clone(),
                role: Role::Caller,
                final_status: None,
                answered_at: None,
                ended_at: None,
                how: String::new(),
            },
            state: State::Idle,
            caller,
            callee: Some(callee),
            local_tag: ids::tag(&mut self.rng),
            remote_tag: None,
            local_uri: format!("sip:caller@{}", self.address),
            remote_uri: uri.clone(),
            remote_target: uri,
            cseq: 1,
            invite_branch: ids::branch(&mut self.rng),
            invite_cseq: 1,
            reply: None,
            invite_had_sdp: false,
            last_response: Vec::new(),
            pending: BTreeMap::new(),
            last_ack: Vec::new(),
            cancel_wanted: false,
        };
        self.by_call_id.insert(call_id.clone(), id);
        self.sessions.insert(id, session);
        self.timers.set((id, Timer::Start), at);
        call_id
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub(crate) fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Every call this agent took part in.
    pub(crate) fn calls(&self) -> impl Iterator<Item = &AgentCall> {
        self.sessions.values().map(|s| &s.record)
    }

    /// Removes and returns the calls that are over here and have nothing left to retransmit.
    pub(crate) fn take_finished(&mut self) -> Vec<AgentCall> {
        let done: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == State::Ended && s.pending.is_empty())
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for id in done {
            let Some(session) = self.sessions.remove(&id) else {
                continue;
            };
            self.by_call_id.remove(&session.record.call_id);
            let call_id = session.record.call_id.clone();
            self.answered.retain(|(c, _, _), _| *c != call_id);
            out.push(session.record);
        }
        out
    }

    /// How many calls are still going on here.
    pub(crate) fn live(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.state != State::Ended && s.state != State::Idle)
            .count()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some((id, timer)) = self.timers.pop_due(now) {
            self.on_timer(id, timer);
        }
    }

    pub(crate) fn handle_datagram(&mut self, now: Instant, source: SocketAddr, contents: &[u8]) {
        self.now = now;
        let Ok(parsed) = twoleg_core::sip::parse(contents, 65_535) else {
            return;
        };
        match &parsed.message {
            Message::Request(_) => self.on_request(source, parsed),
            Message::Response(_) => self.on_response(parsed),
        }
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.outbox.push((to, bytes));
    }

    /// Sends `bytes` to the proxy and retransmits them until `stop(kind)` (RFC 3261 Timers A/E
    /// and the 2xx/G retransmissions), giving up after 64·T1.
    fn send_reliably(&mut self, id: u64, kind: Kind, bytes: Vec<u8>, cap: Duration) {
        self.send(self.proxy, bytes.clone());
        if let Some(session) = self.sessions.get_mut(&id) {
            session.pending.insert(
                kind,
                Pending {
                    bytes,
                    interval: self.t1,
                    cap,
                },
            );
        }
        self.timers
            .set((id, Timer::Retransmit(kind)), self.now + self.t1);
        self.timers
            .set((id, Timer::GiveUp(kind)), self.now + self.t1 * 64);
    }

    fn stop(&mut self, id: u64, kind: Kind) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.pending.remove(&kind);
        }
        self.timers.cancel((id, Timer::Retransmit(kind)));
        self.timers.cancel((id, Timer::GiveUp(kind)));
    }

    fn end(&mut self, id: u64, how: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.state == State::Ended {
            return;
        }
        session.state = State::Ended;
        session.record.ended_at = Some(self.now);
        session.record.how = how.to_owned();
        for timer in [Timer::Cancel, Timer::HangUp, Timer::ReInvite, Timer::Answer] {
            self.timers.cancel((id, timer));
        }
        // Outstanding BYE, CANCEL and final-response retransmissions run to their end.
    }

    fn on_timer(&mut self, id: u64, timer: Timer) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let state = session.state;
        match timer {
            Timer::Start => self.start_call(id),
            // RFC 3261 §9.1: no CANCEL before a provisional response; it waits for one.
            Timer::Cancel if state == State::Calling => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.cancel_wanted = true;
                }
            }
            Timer::Cancel if state == State::Ringing => self.send_cancel(id),
            Timer::HangUp if state == State::Confirmed => self.hang_up(id),
            Timer::ReInvite if state == State::Confirmed => {
                let bytes = self.in_dialog_request(id, Method::INVITE, Some(SDP_OFFER));
                self.send_reliably(id, Kind::ReInvite, bytes, self.t2 * 64);
            }
            Timer::Answer if state == State::Ringing => self.answer(id),
            Timer::Answer if state == State::Calling => self.end(id, "stayed silent"),
            Timer::Retransmit(kind) => {
                let Some(pending) = self
                    .sessions
                    .get_mut(&id)
                    .and_then(|s| s.pending.get_mut(&kind))
                else {
                    return;
                };
                let bytes = pending.bytes.clone();
                pending.interval = (pending.interval * 2).min(pending.cap);
                let next = pending.interval;
                self.send(self.proxy, bytes);
                self.timers
                    .set((id, Timer::Retransmit(kind)), self.now + next);
            }
            Timer::GiveUp(kind) => {
                self.stop(id, kind);
                match kind {
                    Kind::Invite => {
                        if let Some(session) = self.sessions.get_mut(&id) {
                            session.record.final_status = Some(408);
                        }
                        self.end(id, "no response to the INVITE");
                    }
                    Kind::Success => {
                        // No ACK: hang up (RFC 3261 §13.3.1.4).
                        if let Some(session) = self.sessions.get_mut(&id) {
                            session.state = State::Confirmed;
                        }
                        self.hang_up(id);
                    }
                    Kind::Bye => self.end(id, "BYE got no answer"),
                    Kind::Failure => self.end(id, "no ACK for the final response"),
                    Kind::Cancel | Kind::ReInvite => {}
                }
            }
            _ => {}
        }
    }

    fn start_call(&mut self, id: u64) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.state = State::Calling;
        let late_offer = session.caller.late_offer;
        let script = session.callee.unwrap_or_default();
        let branch = session.invite_branch.clone();
        let mut request = self.base_request(id, Method::INVITE, 1, Some(&branch));
        request
            .headers
            .push(HeaderName::parse(SCRIPT_HEADER), script.to_string());
        if !late_offer {
            request
                .headers
                .push(HeaderName::CONTENT_TYPE, "application/sdp");
            request.body = SDP_OFFER.as_bytes().to_vec();
        }
        let bytes = request.to_bytes();
        let caller = self.sessions[&id].caller.clone();
        if let Some(after) = caller.cancel_after {
            self.timers.set((id, Timer::Cancel), self.now + after);
        }
        self.send_reliably(id, Kind::Invite, bytes, Duration::MAX);
    }

    fn send_cancel(&mut self, id: u64) {
        let bytes = self.caller_request(id, Method::CANCEL);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.state = State::Cancelling;
        }
        self.send_reliably(id, Kind::Cancel, bytes, self.t2);
    }

    fn hang_up(&mut self, id: u64) {
        let bytes = self.in_dialog_request(id, Method::BYE, None);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.state = State::Ended;
            session.record.ended_at = Some(self.now);
            session.record.how = "hung up".to_owned();
        }
        self.send_reliably(id, Kind::Bye, bytes, self.t2);
    }

    /// A request of the caller's INVITE transaction (the INVITE itself or its CANCEL).
    fn caller_request(&mut self, id: u64, method: Method) -> Vec<u8> {
        let session = &self.sessions[&id];
        let (cseq, branch) = (session.invite_cseq, session.invite_branch.clone());
        self.base_request(id, method, cseq, Some(&branch))
            .to_bytes()
    }

    fn base_request(
        &mut self,
        id: u64,
        method: Method,
        cseq: u32,
        branch: Option<&str>,
    ) -> Request {
        let branch = branch.map_or_else(|| ids::branch(&mut self.rng), str::to_owned);
        let session = &self.sessions[&id];
        let uri = if method == Method::INVITE && session.remote_tag.is_none()
            || method == Method::CANCEL
        {
            session.remote_uri.clone()
        } else {
            session.remote_target.clone()
        };
        let mut headers = Headers::new();
        headers.push(HeaderName::VIA, Via::new(self.address, &branch).to_string());
        headers.push(HeaderName::MAX_FORWARDS, "70");
        let mut from = NameAddr::new(session.local_uri.clone());
        let mut to = NameAddr::new(session.remote_uri.clone());
        // Both roles: From is this agent's party, To the peer's (RFC 3261 §12.2.1.1).
        from.set_tag(&session.local_tag);
        if let Some(tag) = &session.remote_tag
            && method != Method::CANCEL
            && !(method == Method::INVITE && cseq == session.invite_cseq)
        {
            to.set_tag(tag);
        }
        headers.push(HeaderName::FROM, from.to_string());
        headers.push(HeaderName::TO, to.to_string());
        headers.push(HeaderName::CALL_ID, session.record.call_id.clone());
        headers.push(HeaderName::CSEQ, format!("{cseq} {method}"));
        if method != Method::ACK && method != Method::CANCEL {
            headers.push(HeaderName::CONTACT, format!("<sip:agent@{}>", self.address));
        }
        Request {
            method,
            uri,
            headers,
            body: Vec::new(),
        }
    }

    fn in_dialog_request(&mut self, id: u64, method: Method, sdp: Option<&str>) -> Vec<u8> {
        let cseq = {
            let Some(session) = self.sessions.get_mut(&id) else {
                return Vec::new();
            };
            session.cseq += 1;
            session.cseq
        };
        let mut request = self.base_request(id, method, cseq, None);
        if let Some(sdp) = sdp {
            request
                .headers
                .push(HeaderName::CONTENT_TYPE, "application/sdp");
            request.body = sdp.as_bytes().to_vec();
        }
        request.to_bytes()
    }

    fn ack(&mut self, id: u64, cseq: u32, branch: Option<&str>, sdp: Option<&str>) -> Vec<u8> {
        let mut request = self.base_request(id, Method::ACK, cseq, branch);
        if let Some(sdp) = sdp {
            request
                .headers
                .push(HeaderName::CONTENT_TYPE, "application/sdp");
            request.body = sdp.as_bytes().to_vec();
        }
        request.to_bytes()
    }

    fn on_response(&mut self, parsed: Parsed) {
        let Message::Response(response) = &parsed.message else {
            return;
        };
        let Some(&id) = self.by_call_id.get(&parsed.call_id) else {
            return;
        };
        let status = response.status;
        let method = parsed.cseq.method.clone();
        let cseq = parsed.cseq.number;
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        match method {
            Method::INVITE
                if cseq == session.invite_cseq && session.record.role == Role::Caller =>
            {
                if status.is_provisional() {
                    self.stop(id, Kind::Invite);
                    if let Some(session) = self.sessions.get_mut(&id)
                        && session.state == State::Calling
                    {
                        session.state = State::Ringing;
                        if session.cancel_wanted {
                            self.send_cancel(id);
                        }
                    }
                    return;
                }
                self.stop(id, Kind::Invite);
                if status.is_success() {
                    self.on_invite_success(id, &parsed);
                } else {
                    let branch = self.sessions[&id].invite_branch.clone();
                    if let Some(session) = self.sessions.get_mut(&id) {
                        if let Some(tag) = parsed.to.tag() {
                            session.remote_tag = Some(tag.to_owned());
                        }
                        session
                            .record
                            .final_status
                            .get_or_insert_with(|| status.code());
                    }
                    let ack = self.ack(id, cseq, Some(&branch), None);
                    self.send(self.proxy, ack);
                    self.stop(id, Kind::Cancel);
                    let how = format!("refused with {status}");
                    self.end(id, &how);
                }
            }
            Method::INVITE => {
                // A re-INVITE's answer.
                if status.is_final() {
                    self.stop(id, Kind::ReInvite);
                }
                if status.is_success() {
                    let ack = self.ack(id, cseq, None, None);
                    self.send(self.proxy, ack);
                }
            }
            Method::CANCEL if status.is_final() => self.stop(id, Kind::Cancel),
            Method::BYE if status.is_final() => self.stop(id, Kind::Bye),
            _ => {}
        }
    }

    fn on_invite_success(&mut self, id: u64, parsed: &Parsed) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let cseq = parsed.cseq.number;
        if session.record.answered_at.is_some() || session.state == State::Ended {
            // A retransmitted 2xx: ACK it again.
            let ack = session.last_ack.clone();
            if !ack.is_empty() {
                self.send(self.proxy, ack);
            }
            return;
        }
        session.remote_tag = parsed.to.tag().map(str::to_owned);
        if let Some(contact) = parsed.contacts.first() {
            session.remote_target = contact.uri.clone();
        }
        session.record.final_status = Some(200);
        session.record.answered_at = Some(self.now);
        let cancelled = session.state == State::Cancelling;
        session.state = State::Confirmed;
        let late_offer = session.caller.late_offer;
        let caller = session.caller.clone();
        let ack = self.ack(id, cseq, None, late_offer.then_some(SDP_ANSWER));
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_ack = ack.clone();
        }
        self.send(self.proxy, ack);
        self.stop(id, Kind::Cancel);
        if cancelled {
            self.hang_up(id);
            return;
        }
        if let Some(after) = caller.hang_up_after {
            self.timers.set((id, Timer::HangUp), self.now + after);
        }
        if let Some(after) = caller.reinvite_after {
            self.timers.set((id, Timer::ReInvite), self.now + after);
        }
    }

    fn on_request(&mut self, source: SocketAddr, parsed: Parsed) {
        let Message::Request(request) = &parsed.message else {
            return;
        };
        let method = request.method.clone();
        let existing = self.by_call_id.get(&parsed.call_id).copied();
        let reply = ReplyTo::new(&parsed, source);
        match (method.clone(), existing) {
            (Method::INVITE, None) => self.on_new_invite(reply, &parsed),
            (Method::INVITE, Some(id)) => {
                let session = &self.sessions[&id];
                if parsed.cseq.number == session.invite_cseq && session.record.role == Role::Callee
                {
                    // A retransmitted INVITE: the last response again.
                    let last = session.last_response.clone();
                    if !last.is_empty() {
                        self.send(reply.address, last);
                    }
                    return;
                }
                if let Some(bytes) = self.answered.get(&key(&parsed)).cloned() {
                    self.send(reply.address, bytes);
                    return;
                }
                // A re-INVITE: accept it.
                let mut ok = reply.response(StatusCode::OK, "OK", None);
                ok.headers
                    .push(HeaderName::CONTACT, format!("<sip:agent@{}>", self.address));
                ok.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                ok.body = SDP_ANSWER.as_bytes().to_vec();
                let bytes = ok.to_bytes();
                self.answered.insert(key(&parsed), bytes.clone());
                self.send_reliably(id, Kind::Success, bytes, self.t2);
            }
            (Method::ACK, Some(id)) => {
                let Some(session) = self.sessions.get_mut(&id) else {
                    return;
                };
                if session.pending.contains_key(&Kind::Failure) {
                    self.stop(id, Kind::Failure);
                    let how = format!(
                        "refused with {}",
                        self.sessions[&id].record.final_status.unwrap_or_default()
                    );
                    self.end(id, &how);
                    return;
                }
                if session.pending.contains_key(&Kind::Success) {
                    self.stop(id, Kind::Success);
                    let session = self.sessions.get_mut(&id).expect("checked above");
                    if session.state == State::Answered {
                        session.state = State::Confirmed;
                        if let Some(CalleeScript::Answer {
                            hang_up_after: Some(after),
                            ..
                        }) = session.callee
                        {
                            self.timers.set((id, Timer::HangUp), self.now + after);
                        }
                    }
                }
            }
            (Method::CANCEL, Some(id)) => {
                let ok = reply.response(StatusCode::OK, "OK", None);
                self.send(reply.address, ok.to_bytes());
                let session = &self.sessions[&id];
                if matches!(session.state, State::Calling | State::Ringing)
                    && session.record.role == Role::Callee
                {
                    self.final_response(id, StatusCode::REQUEST_TERMINATED);
                }
            }
            (Method::BYE, Some(id)) => {
                let ok = reply.response(StatusCode::OK, "OK", None).to_bytes();
                self.answered.insert(key(&parsed), ok.clone());
                self.send(reply.address, ok);
                self.stop(id, Kind::Success);
                self.end(id, "peer hung up");
            }
            (_, found) => {
                if let Some(bytes) = self.answered.get(&key(&parsed)).cloned() {
                    self.send(reply.address, bytes);
                    return;
                }
                let status = if found.is_some() || method == Method::OPTIONS {
                    StatusCode::OK
                } else {
                    StatusCode::CALL_DOES_NOT_EXIST
                };
                let response = reply.response(status, status.reason(), None).to_bytes();
                self.answered.insert(key(&parsed), response.clone());
                self.send(reply.address, response);
            }
        }
    }

    fn on_new_invite(&mut self, reply: ReplyTo, parsed: &Parsed) {
        let Message::Request(request) = &parsed.message else {
            return;
        };
        let script = request
            .headers
            .get(&HeaderName::parse(SCRIPT_HEADER))
            .map_or_else(CalleeScript::default, CalleeScript::parse);
        let id = self.next_session;
        self.next_session += 1;
        let session = Session {
            record: AgentCall {
                call_id: parsed.call_id.clone(),
                role: Role::Callee,
                final_status: None,
                answered_at: None,
                ended_at: None,
                how: String::new(),
            },
            state: State::Calling,
            caller: CallerScript::default(),
            callee: Some(script),
            local_tag: ids::tag(&mut self.rng),
            remote_tag: parsed.from.tag().map(str::to_owned),
            local_uri: parsed.to.uri.clone(),
            remote_uri: parsed.from.uri.clone(),
            remote_target: parsed
                .contacts
                .first()
                .map_or_else(|| parsed.from.uri.clone(), |c| c.uri.clone()),
            cseq: 0,
            invite_branch: String::new(),
            invite_cseq: parsed.cseq.number,
            reply: Some(reply),
            invite_had_sdp: !request.body.is_empty(),
            last_response: Vec::new(),
            pending: BTreeMap::new(),
            last_ack: Vec::new(),
            cancel_wanted: false,
        };
        self.by_call_id.insert(parsed.call_id.clone(), id);
        self.sessions.insert(id, session);
        match script {
            // A dead callee: forgets the call once any sender would have given up.
            CalleeScript::Silent => self
                .timers
                .set((id, Timer::Answer), self.now + self.t1 * 64),
            CalleeScript::NoAnswer => {
                self.provisional(id, StatusCode::TRYING);
                self.provisional(id, StatusCode::RINGING);
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.state = State::Ringing;
                }
            }
            CalleeScript::Answer { after, .. } | CalleeScript::Reject { after, .. } => {
                self.provisional(id, StatusCode::TRYING);
                self.provisional(id, StatusCode::RINGING);
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.state = State::Ringing;
                }
                self.timers.set((id, Timer::Answer), self.now + after);
            }
        }
    }

    fn response(&self, id: u64, status: StatusCode) -> Option<(SocketAddr, Response)> {
        let session = self.sessions.get(&id)?;
        let reply = session.reply.as_ref()?;
        let tag = (status != StatusCode::TRYING).then_some(session.local_tag.as_str());
        let mut response = reply.response(status, status.reason(), tag);
        if status != StatusCode::TRYING && status.code() < 300 {
            response
                .headers
                .push(HeaderName::CONTACT, format!("<sip:agent@{}>", self.address));
        }
        Some((reply.address, response))
    }

    fn provisional(&mut self, id: u64, status: StatusCode) {
        let Some((to, response)) = self.response(id, status) else {
            return;
        };
        let bytes = response.to_bytes();
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_response = bytes.clone();
        }
        self.send(to, bytes);
    }

    fn answer(&mut self, id: u64) {
        match self.sessions.get(&id).and_then(|s| s.callee) {
            Some(CalleeScript::Reject { code, .. }) => {
                let status = StatusCode::new(code).unwrap_or(StatusCode::BUSY_HERE);
                self.final_response(id, status);
            }
            _ => {
                let Some((_, mut response)) = self.response(id, StatusCode::OK) else {
                    return;
                };
                let had_sdp = self.sessions[&id].invite_had_sdp;
                response
                    .headers
                    .push(HeaderName::CONTENT_TYPE, "application/sdp");
                response.body = if had_sdp { SDP_ANSWER } else { SDP_OFFER }
                    .as_bytes()
                    .to_vec();
                let bytes = response.to_bytes();
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.last_response = bytes.clone();
                    session.state = State::Answered;
                    session.record.final_status = Some(200);
                    session.record.answered_at = Some(self.now);
                }
                self.send_reliably_to_reply(id, Kind::Success, bytes);
            }
        }
    }

    fn final_response(&mut self, id: u64, status: StatusCode) {
        let Some((_, response)) = self.response(id, status) else {
            return;
        };
        let bytes = response.to_bytes();
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_response = bytes.clone();
            session.state = State::Cancelling;
            session.record.final_status = Some(status.code());
        }
        self.timers.cancel((id, Timer::Answer));
        self.send_reliably_to_reply(id, Kind::Failure, bytes);
    }

    /// Final responses go to the request's response address, which is the proxy here.
    fn send_reliably_to_reply(&mut self, id: u64, kind: Kind, bytes: Vec<u8>) {
        self.send_reliably(id, kind, bytes, self.t2);
    }
}

fn key(parsed: &Parsed) -> (String, u32, String) {
    (
        parsed.call_id.clone(),
        parsed.cseq.number,
        parsed.cseq.method.to_string(),
    )
}
