//! Requests the scripted agent writes: out of dialog, in dialog, and ACKs.

use twoleg_core::ids;
use twoleg_core::sip::{HeaderName, Headers, Method, NameAddr, Request, Via};

use super::Agent;

impl Agent {
    pub(super) fn base_request(
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
        headers.push(
            HeaderName::VIA,
            Via::new(&self.transport.to_string(), self.address, &branch).to_string(),
        );
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

    pub(super) fn in_dialog_request(
        &mut self,
        id: u64,
        method: Method,
        sdp: Option<&str>,
    ) -> Vec<u8> {
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

    pub(super) fn ack(
        &mut self,
        id: u64,
        cseq: u32,
        branch: Option<&str>,
        sdp: Option<&str>,
    ) -> Vec<u8> {
        let mut request = self.base_request(id, Method::ACK, cseq, branch);
        if let Some(sdp) = sdp {
            request
                .headers
                .push(HeaderName::CONTENT_TYPE, "application/sdp");
            request.body = sdp.as_bytes().to_vec();
        }
        request.to_bytes()
    }
}
