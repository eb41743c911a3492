//! Building responses to a received request (RFC 3261 §8.2.6) and choosing which headers pass
//! from one leg to the other.

use std::net::SocketAddr;

use crate::sip::{HeaderName, Headers, NameAddr, Parsed, Response, StatusCode, Via};

/// What a response to one received request copies from it.
#[derive(Clone, Debug)]
pub(crate) struct ReplyTo {
    /// The request's Via values, the top one stamped with `received`/`rport`.
    pub(crate) vias: Vec<String>,
    pub(crate) from: String,
    pub(crate) to: NameAddr,
    pub(crate) call_id: String,
    pub(crate) cseq: String,
    /// Record-Route values, copied into 18x and 2xx responses that create a dialog.
    pub(crate) record_route: Vec<String>,
    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    pub(crate) address: SocketAddr,
}

impl ReplyTo {
    pub(crate) fn new(parsed: &Parsed, source: SocketAddr) -> Self {
        let mut vias: Vec<String> = parsed.vias.iter().map(ToString::to_string).collect();
        let mut top = parsed.vias[0].clone();
        let address = top.response_address(source);
        top.stamp_source(source);
        vias[0] = top.to_string();
        let headers = parsed.message.headers();
        Self {
            vias,
            from: headers
                .get(&HeaderName::FROM)
                .unwrap_or_default()
                .to_owned(),
            to: parsed.to.clone(),
            call_id: parsed.call_id.clone(),
            cseq: parsed.cseq.to_string(),
            record_route: headers
                .get_all(&HeaderName::RECORD_ROUTE)
                .map(str::to_owned)
                .collect(),
            address,
        }
    }

    /// From the headers of a request that failed to parse (its top Via did parse); `None` when
    /// From, To, Call-ID or CSeq is missing, since no valid response can be built then.
    pub(crate) fn salvaged(headers: &Headers, top_via: &Via, source: SocketAddr) -> Option<Self> {
        for name in [
            HeaderName::FROM,
            HeaderName::TO,
            HeaderName::CALL_ID,
            HeaderName::CSEQ,
        ] {
            headers.get(&name).filter(|v| !v.is_empty())?;
        }
        let mut vias: Vec<String> = headers
            .get_all(&HeaderName::VIA)
            .map(str::to_owned)
            .collect();
        let mut top = top_via.clone();
        let address = top.response_address(source);
        top.stamp_source(source);
        vias[0] = top.to_string();
        let to = headers.get(&HeaderName::TO).unwrap_or_default();
        Some(Self {
            vias,
            from: headers
                .get(&HeaderName::FROM)
                .unwrap_or_default()
                .to_owned(),
            to: NameAddr::parse(to).unwrap_or_else(|_| NameAddr::new(to)),
            call_id: headers
                .get(&HeaderName::CALL_ID)
                .unwrap_or_default()
                .to_owned(),
            cseq: headers
                .get(&HeaderName::CSEQ)
                .unwrap_or_default()
                .to_owned(),
            record_route: Vec::new(),
            address,
        })
    }

    /// A response with the mandatory headers; `to_tag` is added to To unless it has one.
    pub(crate) fn response(
        &self,
        status: StatusCode,
        reason: &str,
        to_tag: Option<&str>,
    ) -> Response {
        let mut headers = Headers::new();
        for via in &self.vias {
            headers.push(HeaderName::VIA, via.clone());
        }
        headers.push(HeaderName::FROM, self.from.clone());
        let mut to = self.to.clone();
        if let (None, Some(tag)) = (to.tag(), to_tag) {
            to.set_tag(tag);
        }
        headers.push(HeaderName::TO, to.to_string());
        headers.push(HeaderName::CALL_ID, self.call_id.clone());
        headers.push(HeaderName::CSEQ, self.cseq.clone());
        Response {
            status,
            reason: reason.to_owned(),
            headers,
            body: Vec::new(),
        }
    }
}

/// Whether a header is copied from a message on one leg into the matching message on the other.
/// Headers that belong to one leg's transaction or dialog, or to an extension TwoLeg does not
/// take part in, stay on their leg; everything else (Content-Type, Session-ID, User-Agent,
/// unknown headers, ...) passes through untouched.
pub(crate) fn passes_through(name: &HeaderName) -> bool {
    ![
        HeaderName::VIA,
        HeaderName::FROM,
        HeaderName::TO,
        HeaderName::CALL_ID,
        HeaderName::CSEQ,
        HeaderName::MAX_FORWARDS,
        HeaderName::CONTACT,
        HeaderName::CONTENT_LENGTH,
        HeaderName::ROUTE,
        HeaderName::RECORD_ROUTE,
        HeaderName::REQUIRE,
        HeaderName::PROXY_REQUIRE,
        HeaderName::SUPPORTED,
        HeaderName::UNSUPPORTED,
        HeaderName::ALLOW,
        HeaderName::RSEQ,
        HeaderName::RACK,
        HeaderName::SESSION_EXPIRES,
        HeaderName::MIN_SE,
    ]
    .contains(name)
}

/// Copies the pass-through headers and the body of `from` onto `headers`/`body`.
pub(crate) fn copy_payload(
    from: &Headers,
    from_body: &[u8],
    headers: &mut Headers,
    body: &mut Vec<u8>,
) {
    for (name, value) in from.iter() {
        if passes_through(name) {
            headers.push(name.clone(), value);
        }
    }
    body.clear();
    body.extend_from_slice(from_body);
}
