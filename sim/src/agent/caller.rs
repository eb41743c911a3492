//! The scripted agent as a caller: it places calls, cancels, hangs up, and follows the responses.

use std::collections::BTreeMap;
use std::time::Duration;

use twoleg_core::Instant;
use twoleg_core::ids;
use twoleg_core::sip::{HeaderName, Message, Method, Parsed};

use super::{Agent, AgentCall, AgentMedia, Kind, Role, SCRIPT_HEADER, Session, State, Timer};
use crate::script::{CalleeScript, CallerScript};

impl Agent {
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
        let security = caller.media;
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
                media: AgentMedia::default(),
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
            last_response: Vec::new(),
            pending: BTreeMap::new(),
            last_ack: Vec::new(),
            cancel_wanted: false,
            authenticated: false,
            media: Default::default(),
        }
        .with_media(security, self.media_port_for(id));
        self.by_call_id.insert(call_id.clone(), id);
        self.sessions.insert(id, session);
        self.timers.set((id, Timer::Start), at);
        call_id
    }

    pub(super) fn start_call(&mut self, id: u64) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.state = State::Calling;
        let caller = session.caller.clone();
        if let Some(after) = caller.cancel_after {
            self.timers.set((id, Timer::Cancel), self.now + after);
        }
        self.send_invite(id, None);
    }

    /// The call's INVITE (its CSeq and branch as the session has them), with
    /// `Proxy-Authorization` when answering a challenge.
    fn send_invite(&mut self, id: u64, authorization: Option<String>) {
        let session = &self.sessions[&id];
        let late_offer = session.caller.late_offer;
        let script = session.callee.unwrap_or_default();
        let (cseq, branch) = (session.invite_cseq, session.invite_branch.clone());
        let mut request = self.base_request(id, Method::INVITE, cseq, Some(&branch));
        request
            .headers
            .push(HeaderName::parse(SCRIPT_HEADER), script.to_string());
        if let Some(authorization) = authorization {
            request
                .headers
                .push(HeaderName::PROXY_AUTHORIZATION, authorization);
        }
        if !late_offer {
            request
                .headers
                .push(HeaderName::CONTENT_TYPE, "application/sdp");
            request.body = self.offer_sdp(id).into_bytes();
        }
        let bytes = request.to_bytes();
        self.send_reliably(id, Kind::Invite, bytes, Duration::MAX);
    }

    /// A 407 to the INVITE: answered once with a new INVITE (next CSeq, new branch) carrying
    /// credentials, when the script has them and a challenge can be answered. Whether it was.
    fn retry_with_credentials(&mut self, id: u64, parsed: &Parsed) -> bool {
        let cnonce = ids::tag(&mut self.rng);
        let branch = ids::branch(&mut self.rng);
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        let Some(credentials) = session.caller.credentials.clone() else {
            return false;
        };
        if session.authenticated {
            return false;
        }
        let uri = session.remote_uri.clone();
        let Some(authorization) = parsed
            .message
            .headers()
            .get_all(&HeaderName::PROXY_AUTHENTICATE)
            .find_map(|challenge| {
                twoleg_core::auth::answer_challenge(
                    challenge,
                    &credentials.username,
                    &credentials.password,
                    "INVITE",
                    &uri,
                    &cnonce,
                    1,
                )
            })
        else {
            return false;
        };
        session.authenticated = true;
        session.remote_tag = None;
        session.invite_cseq += 1;
        session.cseq = session.invite_cseq;
        session.invite_branch = branch;
        session.state = State::Calling;
        self.send_invite(id, Some(authorization));
        true
    }

    pub(super) fn send_cancel(&mut self, id: u64) {
        let bytes = self.caller_request(id, Method::CANCEL);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.state = State::Cancelling;
        }
        self.send_reliably(id, Kind::Cancel, bytes, self.t2);
    }

    pub(super) fn hang_up(&mut self, id: u64) {
        let bytes = self.in_dialog_request(id, Method::BYE, None);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.state = State::Ended;
            session.record.ended_at = Some(self.now);
            session.record.how = "hung up".to_owned();
        }
        self.send_reliably(id, Kind::Bye, bytes, self.t2);
    }

    /// A request of the caller's INVITE transaction (the INVITE itself or its CANCEL).
    pub(super) fn caller_request(&mut self, id: u64, method: Method) -> Vec<u8> {
        let session = &self.sessions[&id];
        let (cseq, branch) = (session.invite_cseq, session.invite_branch.clone());
        self.base_request(id, method, cseq, Some(&branch))
            .to_bytes()
    }

    pub(super) fn on_response(&mut self, parsed: Parsed) {
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
                    if let Some(session) = self.sessions.get_mut(&id)
                        && let Some(tag) = parsed.to.tag()
                    {
                        session.remote_tag = Some(tag.to_owned());
                    }
                    let ack = self.ack(id, cseq, Some(&branch), None);
                    self.send(self.proxy, ack);
                    if status.code() == 407 && self.retry_with_credentials(id, &parsed) {
                        return;
                    }
                    if let Some(session) = self.sessions.get_mut(&id) {
                        session
                            .record
                            .final_status
                            .get_or_insert_with(|| status.code());
                    }
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
                    if let Message::Response(response) = &parsed.message
                        && !response.body.is_empty()
                    {
                        self.take_answer(id, &response.body);
                    }
                    let ack = self.ack(id, cseq, None, None);
                    self.send(self.proxy, ack);
                }
            }
            Method::CANCEL if status.is_final() => self.stop(id, Kind::Cancel),
            Method::BYE if status.is_final() => self.stop(id, Kind::Bye),
            _ => {}
        }
    }

    pub(super) fn on_invite_success(&mut self, id: u64, parsed: &Parsed) {
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
        let body = match &parsed.message {
            Message::Response(response) => response.body.clone(),
            Message::Request(_) => Vec::new(),
        };
        // Late offer: the 200 carries the offer and the ACK the answer (none when this caller
        // cannot take the offer: it hangs up at once).
        let mut refused_offer = false;
        let answer = if late_offer {
            let answer = self.answer_sdp(id, &body);
            refused_offer = answer.is_none();
            answer
        } else {
            self.take_answer(id, &body);
            None
        };
        let ack = self.ack(id, cseq, None, answer.as_deref());
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_ack = ack.clone();
        }
        self.send(self.proxy, ack);
        self.stop(id, Kind::Cancel);
        if cancelled || refused_offer {
            self.hang_up(id);
            return;
        }
        self.start_media(id);
        if let Some(after) = caller.hang_up_after {
            self.timers.set((id, Timer::HangUp), self.now + after);
        }
        if let Some(after) = caller.reinvite_after {
            self.timers.set((id, Timer::ReInvite), self.now + after);
        }
    }
}
