//! The scripted agent as a callee: it takes calls and answers them as its script says.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use twoleg_core::ids;
use twoleg_core::sip::ReplyTo;
use twoleg_core::sip::{HeaderName, Message, Method, Parsed, Response, StatusCode};

use super::{Agent, AgentCall, AgentMedia, Kind, Role, SCRIPT_HEADER, Session, State, Timer, key};
use crate::script::{CalleeScript, CallerScript};

impl Agent {
    pub(super) fn on_request(&mut self, source: SocketAddr, parsed: Parsed) {
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
                let answer = self
                    .answer_sdp(id, &request.body)
                    .unwrap_or_else(|| self.offer_sdp(id));
                let mut ok = reply.response(StatusCode::OK, "OK", None);
                ok.headers
                    .push(HeaderName::CONTACT, format!("<sip:agent@{}>", self.address));
                ok.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                ok.body = answer.into_bytes();
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
                    if !request.body.is_empty() {
                        self.take_answer(id, &request.body);
                    }
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
                        self.start_media(id);
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

    pub(super) fn on_new_invite(&mut self, reply: ReplyTo, parsed: &Parsed) {
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
                media: AgentMedia::default(),
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
            last_response: Vec::new(),
            pending: BTreeMap::new(),
            last_ack: Vec::new(),
            cancel_wanted: false,
            authenticated: false,
            media: Default::default(),
        }
        .with_media(self.callee_media, self.media_port_for(id));
        self.by_call_id.insert(parsed.call_id.clone(), id);
        self.sessions.insert(id, session);
        // An offer this callee cannot take: 488 at once (RFC 3264 §6).
        if !request.body.is_empty() {
            match self.answer_sdp(id, &request.body) {
                Some(answer) => {
                    self.sessions
                        .get_mut(&id)
                        .expect("just inserted")
                        .media
                        .prepared = Some(answer)
                }
                None => {
                    self.final_response(id, StatusCode::NOT_ACCEPTABLE_HERE);
                    return;
                }
            }
        }
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

    pub(super) fn response(&self, id: u64, status: StatusCode) -> Option<(SocketAddr, Response)> {
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

    pub(super) fn provisional(&mut self, id: u64, status: StatusCode) {
        let Some((to, response)) = self.response(id, status) else {
            return;
        };
        let bytes = response.to_bytes();
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_response = bytes.clone();
        }
        self.send(to, bytes);
    }

    pub(super) fn answer(&mut self, id: u64) {
        match self.sessions.get(&id).and_then(|s| s.callee) {
            Some(CalleeScript::Reject { code, .. }) => {
                let status = StatusCode::new(code).unwrap_or(StatusCode::BUSY_HERE);
                self.final_response(id, status);
            }
            _ => {
                let Some((_, mut response)) = self.response(id, StatusCode::OK) else {
                    return;
                };
                let prepared = self.sessions[&id].media.prepared.clone();
                let body = match prepared {
                    Some(answer) => answer,
                    None => self.offer_sdp(id),
                };
                response
                    .headers
                    .push(HeaderName::CONTENT_TYPE, "application/sdp");
                response.body = body.into_bytes();
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

    pub(super) fn final_response(&mut self, id: u64, status: StatusCode) {
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
    pub(super) fn send_reliably_to_reply(&mut self, id: u64, kind: Kind, bytes: Vec<u8>) {
        self.send_reliably(id, kind, bytes, self.t2);
    }
}
