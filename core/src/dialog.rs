//! Per-leg dialog state (RFC 3261 §12): Call-ID, tags, CSeq spaces, route set, remote target.

use std::net::SocketAddr;

use rand_chacha::ChaCha8Rng;

use crate::Transport;
use crate::hop::{Hop, transport_of};
use crate::ids;
use crate::sip::{HeaderName, Headers, Method, NameAddr, Request, Uri, Via};
use crate::transaction::DialogKey;

/// One leg's dialog, from TwoLeg's side.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    /// The leg's Call-ID.
    pub(crate) call_id: String,
    /// TwoLeg's tag on this leg (To-tag on leg A, From-tag on leg B).
    pub(crate) local_tag: String,
    /// The peer's tag, once known.
    pub(crate) remote_tag: Option<String>,
    /// TwoLeg's party on this leg, without tag (the To of leg A, the From of leg B).
    pub(crate) local_party: NameAddr,
    /// The peer's party, without tag.
    pub(crate) remote_party: NameAddr,
    /// The last CSeq number TwoLeg used on this leg.
    pub(crate) local_cseq: u32,
    /// The last CSeq number the peer used on this leg.
    pub(crate) remote_cseq: Option<u32>,
    /// Route set, in the order Route headers are written.
    pub(crate) route_set: Vec<String>,
    /// The peer's Contact URI.
    pub(crate) remote_target: String,
    /// TwoLeg's Contact URI on this leg.
    pub(crate) contact: String,
}

impl Dialog {
    /// How requests and ACKs on this leg find it.
    pub(crate) fn key(&self) -> DialogKey {
        DialogKey::new(&self.call_id, &self.local_tag)
    }

    /// A request in this dialog: the next CSeq number unless `cseq` is given (ACK and CANCEL
    /// reuse the INVITE's), a fresh branch, the route set and the remote target.
    pub(crate) fn request(
        &mut self,
        method: Method,
        cseq: Option<u32>,
        hop: &Hop,
        max_forwards: u8,
        rng: &mut ChaCha8Rng,
    ) -> Request {
        let number = match cseq {
            Some(number) => number,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut headers = Headers::new();
        headers.push(
            HeaderName::VIA,
            Via::new(&hop.transport.to_string(), hop.local, &ids::branch(rng)).to_string(),
        );
        headers.push(HeaderName::MAX_FORWARDS, max_forwards.to_string());
        for route in &self.route_set {
            headers.push(HeaderName::ROUTE, route.clone());
        }
        let mut from = self.local_party.clone();
        from.set_tag(&self.local_tag);
        headers.push(HeaderName::FROM, from.to_string());
        let mut to = self.remote_party.clone();
        if let Some(tag) = &self.remote_tag {
            to.set_tag(tag);
        }
        headers.push(HeaderName::TO, to.to_string());
        headers.push(HeaderName::CALL_ID, self.call_id.clone());
        headers.push(HeaderName::CSEQ, format!("{number} {method}"));
        if method != Method::ACK && method != Method::CANCEL {
            headers.push(HeaderName::CONTACT, format!("<{}>", self.contact));
        }
        Request {
            method,
            uri: self.remote_target.clone(),
            headers,
            body: Vec::new(),
        }
    }

    /// The URI in-dialog requests go toward: the first route if there is one (RFC 3261
    /// §12.2.1.1), else the remote target.
    fn next_uri(&self) -> Option<Uri> {
        match self.route_set.first() {
            Some(route) => NameAddr::parse(route).ok()?.parsed_uri(),
            None => Uri::parse(&self.remote_target).ok(),
        }
    }

    /// Where in-dialog requests go: the address of the first route, or of the remote target,
    /// if it is an IP address (else `fallback`'s, where the leg's INVITE came from or went
    /// to), over the transport that URI asks for (else `fallback`'s); the fallback's
    /// connection is kept when the hop is the same.
    pub(crate) fn next_hop(
        &self,
        fallback: &Hop,
        local_for: impl Fn(Transport) -> Option<SocketAddr>,
    ) -> Hop {
        let uri = self.next_uri();
        let peer = uri
            .as_ref()
            .and_then(Uri::socket_addr)
            .unwrap_or(fallback.peer);
        let transport = uri
            .as_ref()
            .and_then(transport_of)
            .filter(|transport| *transport == fallback.transport || local_for(*transport).is_some())
            .unwrap_or(fallback.transport);
        if transport == fallback.transport && peer == fallback.peer {
            return *fallback;
        }
        Hop {
            transport,
            local: if transport == fallback.transport {
                fallback.local
            } else {
                local_for(transport).unwrap_or(fallback.local)
            },
            peer,
            connection: None,
        }
    }
}
