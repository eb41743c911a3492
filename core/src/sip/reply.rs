//! Building responses to a received request (RFC 3261 §8.2.6): what a response copies from
//! its request, and where it goes.

use std::net::SocketAddr;

use super::{HeaderName, Headers, NameAddr, Parsed, Response, StatusCode, Via};

/// What a response to one received request copies from it: Via (the top one stamped with
/// `received`/`rport`), From, To, Call-ID, CSeq and, for responses that create a dialog,
/// Record-Route.
#[derive(Clone, Debug)]
pub struct ReplyTo {
    /// The request's Via values, the top one stamped with `received`/`rport`.
    pub vias: Vec<String>,
    /// From, as it arrived.
    pub from: String,
    /// To, as it arrived (a response adds its tag when it has none).
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq, as it arrived (echoed verbatim, RFC 3261 §8.2.6.2).
    pub cseq: String,
    /// Record-Route values, copied into 18x and 2xx responses that create a dialog.
    pub record_route: Vec<String>,
    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    pub address: SocketAddr,
    /// The request's Timestamp, which a 100 Trying copies (RFC 3261 §8.2.6.1).
    pub timestamp: Option<String>,
}

impl ReplyTo {
    /// From a request that parsed, received from `source`.
    pub fn new(parsed: &Parsed, source: SocketAddr) -> Self {
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
            timestamp: headers.get(&HeaderName::TIMESTAMP).map(str::to_owned),
        }
    }

    /// From the headers of a request that failed to parse (its top Via did parse); `None` when
    /// From, To, Call-ID or CSeq is missing, since no valid response can be built then.
    pub fn salvaged(headers: &Headers, top_via: &Via, source: SocketAddr) -> Option<Self> {
        for name in [
            HeaderName::FROM,
            HeaderName::TO,
            HeaderName::CALL_ID,
            HeaderName::CSEQ,
        ] {
            headers.get(&name).filter(|v| !v.is_empty())?;
        }
        let cseq = headers
            .get(&HeaderName::CSEQ)
            .unwrap_or_default()
            .to_owned();
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
            cseq,
            record_route: Vec::new(),
            address,
            timestamp: None,
        })
    }

    /// A response with the mandatory headers; `to_tag` is added to To unless it has one.
    pub fn response(&self, status: StatusCode, reason: &str, to_tag: Option<&str>) -> Response {
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
        if let Some(timestamp) = self
            .timestamp
            .as_ref()
            .filter(|_| status == StatusCode::TRYING)
        {
            headers.push(HeaderName::TIMESTAMP, timestamp.clone());
        }
        Response {
            status,
            reason: reason.to_owned(),
            headers,
            body: Vec::new(),
        }
    }
}
