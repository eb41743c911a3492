//! Reading one UDP datagram into a [`Parsed`] message, strictly enough to answer the RFC 4475
//! torture messages as RFC 3261 prescribes.
//!
//! The datagram is framed by Content-Length (octets past it are ignored; a body shorter than it
//! is an error), header lines are unfolded, compact names expanded, comma-joined Via, Contact,
//! Route and Record-Route values split into one entry each, and the headers every transaction
//! needs (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact) are read into typed form. Unknown
//! headers are kept as they arrived, for pass-through.

use std::fmt;

use super::header::{HeaderName, Headers};
use super::message::{Message, Request, Response};
use super::method::Method;
use super::name_addr::NameAddr;
use super::scan::{is_token, split_commas};
use super::status::StatusCode;
use super::uri::Uri;
use super::via::Via;

/// A message with its transaction-relevant headers read.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The message itself, headers in arrival order (Content-Length removed).
    pub message: Message,
    /// Every Via value, top first.
    pub vias: Vec<Via>,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq.
    pub cseq: CSeq,
    /// Max-Forwards, if present.
    pub max_forwards: Option<u8>,
    /// Contact values.
    pub contacts: Vec<NameAddr>,
    /// The parsed Request-URI (requests only).
    pub request_uri: Option<Uri>,
}

/// A CSeq value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (below 2^31).
    pub number: u32,
    /// Method.
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number, self.method)
    }
}

/// Why a datagram is not a well-formed SIP message.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ParseError {
    /// Larger than the configured limit.
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No start line, or only whitespace.
    Empty,
    /// The header section is not UTF-8.
    NotUtf8,
    /// No empty line ends the header section.
    Unterminated,
    /// The start line is not `Method SP Request-URI SP SIP/2.0` or `SIP/2.0 SP code SP reason`.
    BadStartLine,
    /// A SIP version other than 2.0.
    UnsupportedVersion(String),
    /// A status code that is not three digits from 100 to 699.
    BadStatusCode,
    /// A Request-URI that is malformed, bracketed, or carries headers.
    BadRequestUri,
    /// A header line with no colon or a name that is not a token.
    BadHeaderLine,
    /// A header whose value is malformed.
    BadHeader(HeaderName),
    /// A required header is missing.
    MissingHeader(HeaderName),
    /// A single-valued header appears more than once.
    RepeatedHeader(HeaderName),
    /// The CSeq method differs from the request method.
    CSeqMethodMismatch,
    /// The body is shorter than Content-Length says.
    BodyTooShort {
        /// What Content-Length declares.
        declared: usize,
        /// What the datagram holds.
        present: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => {
                write!(f, "datagram of {size} bytes exceeds the {limit}-byte limit")
            }
            Self::Empty => f.write_str("empty datagram"),
            Self::NotUtf8 => f.write_str("header section is not UTF-8"),
            Self::Unterminated => f.write_str("no empty line ends the header section"),
            Self::BadStartLine => f.write_str("malformed start line"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported SIP version {v:?}"),
            Self::BadStatusCode => f.write_str("malformed status code"),
            Self::BadRequestUri => f.write_str("malformed Request-URI"),
            Self::BadHeaderLine => f.write_str("malformed header line"),
            Self::BadHeader(name) => write!(f, "malformed {name} header"),
            Self::MissingHeader(name) => write!(f, "missing {name} header"),
            Self::RepeatedHeader(name) => write!(f, "{name} header appears more than once"),
            Self::CSeqMethodMismatch => f.write_str("CSeq method differs from the request method"),
            Self::BodyTooShort { declared, present } => write!(
                f,
                "Content-Length {declared} but only {present} body bytes present"
            ),
        }
    }
}

impl ParseError {
    /// The response a request with this error gets (RFC 3261 §8.2, §21.5.6).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedVersion(_) => StatusCode::VERSION_NOT_SUPPORTED,
            Self::TooLarge { .. } => StatusCode::MESSAGE_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A datagram that did not parse, with what is needed to answer it when it was a request.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// What is wrong.
    pub error: ParseError,
    /// For a request whose Via could be read: enough to build an error response.
    pub salvage: Option<Box<Salvage>>,
}

/// The parts of a malformed request an error response copies (RFC 3261 §8.2.6.2).
#[derive(Clone, Debug)]
pub struct Salvage {
    /// The request method.
    pub method: Method,
    /// Every header as it arrived.
    pub headers: Headers,
    /// The top Via, read.
    pub top_via: Via,
}

enum StartLine<'a> {
    Request {
        method: &'a str,
        uri: &'a str,
        version: &'a str,
        exact: bool,
    },
    Response {
        version: &'a str,
        code: &'a str,
        reason: &'a str,
    },
}

/// Reads one datagram.
pub fn parse(datagram: &[u8], limit: usize) -> Result<Parsed, Rejected> {
    let no_salvage = |error| Rejected {
        error,
        salvage: None,
    };
    if datagram.len() > limit {
        return Err(no_salvage(ParseError::TooLarge {
            size: datagram.len(),
            limit,
        }));
    }
    let start = datagram
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .ok_or_else(|| no_salvage(ParseError::Empty))?;
    let datagram = &datagram[start..];
    let (head_len, sep_len) = match find(datagram, b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => match find(datagram, b"\n\n") {
            Some(i) => (i, 2),
            // A datagram that ends after a header line lacks only the empty line: read it as a
            // message without a body rather than lose a request that can be answered.
            None if datagram.ends_with(b"\n") => (datagram.len(), 0),
            None => return Err(no_salvage(ParseError::Unterminated)),
        },
    };
    let head =
        std::str::from_utf8(&datagram[..head_len]).map_err(|_| no_salvage(ParseError::NotUtf8))?;
    let rest = &datagram[head_len + sep_len..];

    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines.next().ok_or_else(|| no_salvage(ParseError::Empty))?;
    let mut unfolded: Vec<String> = Vec::with_capacity(16);
    for line in lines {
        if line.starts_with([' ', '\t']) {
            match unfolded.last_mut() {
                Some(last) => {
                    last.push(' ');
                    last.push_str(line.trim_start());
                }
                None => return Err(no_salvage(ParseError::BadHeaderLine)),
            }
        } else {
            unfolded.push(line.to_owned());
        }
    }

    let mut headers = Headers::new();
    let mut line_error = None;
    for line in &unfolded {
        let Some((name, value)) = line.split_once(':') else {
            line_error = Some(ParseError::BadHeaderLine);
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            line_error = Some(ParseError::BadHeaderLine);
            continue;
        }
        let name = HeaderName::parse(name);
        let value = value.trim_matches([' ', '\t']);
        if name.is_split_list() {
            for part in split_commas(value) {
                headers.push(name.clone(), part);
            }
        } else {
            headers.push(name, value);
        }
    }

    let start = read_start_line(start_line);
    let salvage = |headers: &Headers| -> Option<Box<Salvage>> {
        let Some(StartLine::Request { method, .. }) = &start else {
            return None;
        };
        if !is_token(method) {
            return None;
        }
        let top_via = Via::parse(headers.get(&HeaderName::VIA)?).ok()?;
        Some(Box::new(Salvage {
            method: Method::from_token(method),
            headers: headers.clone(),
            top_via,
        }))
    };
    let reject = |error, headers: &Headers| Rejected {
        error,
        salvage: salvage(headers),
    };
    let Some(start) = &start else {
        return Err(no_salvage(ParseError::BadStartLine));
    };
    if let Some(error) = line_error {
        return Err(reject(error, &headers));
    }

    let result = read_message(start, &mut headers, rest);
    result.map_err(|error| reject(error, &headers))
}

fn read_start_line(line: &str) -> Option<StartLine<'_>> {
    if line
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("SIP/"))
    {
        let mut parts = line.splitn(3, ' ');
        return Some(StartLine::Response {
            version: parts.next()?,
            code: parts.next()?,
            reason: parts.next().unwrap_or(""),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        [method, uri, version] => Some(StartLine::Request {
            method,
            uri,
            version,
            exact: !method.is_empty() && !uri.is_empty(),
        }),
        [method, .., version] => Some(StartLine::Request {
            method,
            uri: "",
            version,
            exact: false,
        }),
        _ => None,
    }
}

fn read_message(
    start: &StartLine<'_>,
    headers: &mut Headers,
    rest: &[u8],
) -> Result<Parsed, ParseError> {
    let (method, request_uri) = match start {
        StartLine::Request {
            method,
            uri,
            version,
            exact,
        } => {
            if !exact || !is_token(method) {
                return Err(ParseError::BadStartLine);
            }
            if !version.eq_ignore_ascii_case("SIP/2.0") {
                return Err(ParseError::UnsupportedVersion((*version).to_owned()));
            }
            if uri.starts_with('<') {
                return Err(ParseError::BadRequestUri);
            }
            let parsed = Uri::parse(uri).map_err(|_| ParseError::BadRequestUri)?;
            if parsed.is_sip() && !parsed.opaque.is_empty() {
                return Err(ParseError::BadRequestUri);
            }
            (Some(Method::from_token(method)), Some(parsed))
        }
        StartLine::Response { version, .. } => {
            if !version.eq_ignore_ascii_case("SIP/2.0") {
                return Err(ParseError::UnsupportedVersion((*version).to_owned()));
            }
            (None, None)
        }
    };

    let body = read_body(headers, rest)?;
    let vias = headers
        .get_all(&HeaderName::VIA)
        .map(Via::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ParseError::BadHeader(HeaderName::VIA))?;
    if vias.is_empty() {
        return Err(ParseError::MissingHeader(HeaderName::VIA));
    }
    let from = NameAddr::parse(single(headers, &HeaderName::FROM)?)
        .map_err(|_| ParseError::BadHeader(HeaderName::FROM))?;
    let to = NameAddr::parse(single(headers, &HeaderName::TO)?)
        .map_err(|_| ParseError::BadHeader(HeaderName::TO))?;
    let call_id = single(headers, &HeaderName::CALL_ID)?;
    if call_id.is_empty() || call_id.contains([' ', '\t']) {
        return Err(ParseError::BadHeader(HeaderName::CALL_ID));
    }
    let cseq = read_cseq(single(headers, &HeaderName::CSEQ)?)?;
    let max_forwards = match headers.count(&HeaderName::MAX_FORWARDS) {
        0 => None,
        1 => {
            let value = headers.get(&HeaderName::MAX_FORWARDS).unwrap_or_default();
            Some(
                read_number(value, 255).ok_or(ParseError::BadHeader(HeaderName::MAX_FORWARDS))?
                    as u8,
            )
        }
        _ => return Err(ParseError::RepeatedHeader(HeaderName::MAX_FORWARDS)),
    };
    let contacts = headers
        .get_all(&HeaderName::CONTACT)
        .filter(|v| *v != "*")
        .map(NameAddr::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ParseError::BadHeader(HeaderName::CONTACT))?;
    for name in [HeaderName::ROUTE, HeaderName::RECORD_ROUTE] {
        if headers.get_all(&name).any(|v| NameAddr::parse(v).is_err()) {
            return Err(ParseError::BadHeader(name));
        }
    }
    if let Some(date) = headers.get(&HeaderName::DATE)
        && !date.ends_with(" GMT")
    {
        return Err(ParseError::BadHeader(HeaderName::DATE));
    }
    let call_id = call_id.to_owned();

    let message = match (start, method) {
        (StartLine::Request { uri, .. }, Some(method)) => {
            if cseq.method != method {
                return Err(ParseError::CSeqMethodMismatch);
            }
            Message::Request(Request {
                method,
                uri: (*uri).to_owned(),
                headers: std::mem::take(headers),
                body,
            })
        }
        (StartLine::Response { code, reason, .. }, _) => {
            let status = (code.len() == 3)
                .then(|| code.parse::<u16>().ok())
                .flatten()
                .and_then(StatusCode::new)
                .ok_or(ParseError::BadStatusCode)?;
            Message::Response(Response {
                status,
                reason: (*reason).to_owned(),
                headers: std::mem::take(headers),
                body,
            })
        }
        (StartLine::Request { .. }, None) => return Err(ParseError::BadStartLine),
    };
    Ok(Parsed {
        message,
        vias,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
        contacts,
        request_uri,
    })
}

fn read_body(headers: &mut Headers, rest: &[u8]) -> Result<Vec<u8>, ParseError> {
    let body = match headers.count(&HeaderName::CONTENT_LENGTH) {
        0 => rest.to_vec(),
        1 => {
            let value = headers.get(&HeaderName::CONTENT_LENGTH).unwrap_or_default();
            let declared = read_number(value, u32::MAX as u64)
                .ok_or(ParseError::BadHeader(HeaderName::CONTENT_LENGTH))?
                as usize;
            if declared > rest.len() {
                return Err(ParseError::BodyTooShort {
                    declared,
                    present: rest.len(),
                });
            }
            rest[..declared].to_vec()
        }
        _ => return Err(ParseError::RepeatedHeader(HeaderName::CONTENT_LENGTH)),
    };
    headers.remove(&HeaderName::CONTENT_LENGTH);
    Ok(body)
}

fn single<'a>(headers: &'a Headers, name: &HeaderName) -> Result<&'a str, ParseError> {
    match headers.count(name) {
        0 => Err(ParseError::MissingHeader(name.clone())),
        1 => Ok(headers.get(name).unwrap_or_default()),
        _ => Err(ParseError::RepeatedHeader(name.clone())),
    }
}

fn read_cseq(value: &str) -> Result<CSeq, ParseError> {
    let bad = || ParseError::BadHeader(HeaderName::CSEQ);
    let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
    let number = read_number(parts.next().ok_or_else(bad)?, (1 << 31) - 1).ok_or_else(bad)? as u32;
    let method = parts.next().filter(|m| is_token(m)).ok_or_else(bad)?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(CSeq {
        number,
        method: Method::from_token(method),
    })
}

/// A decimal number of at most `max`; leading zeros allowed.
fn read_number(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let trimmed = text.trim_start_matches('0');
    if trimmed.len() > 19 {
        return None;
    }
    let value = if trimmed.is_empty() {
        0
    } else {
        trimmed.parse().ok()?
    };
    (value <= max).then_some(value)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\n\
        f: <sip:alice@127.0.0.1>;tag=1\r\n\
        t: <sip:bob@127.0.0.1>\r\n\
        i: abc@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Max-Forwards: 70\r\n\
        m: <sip:alice@127.0.0.1:5080>\r\n\
        X-Custom: kept\r\n\
        l: 4\r\n\r\nv=0\r\ntrailing";

    #[test]
    fn frames_by_content_length_and_expands_compact_forms() {
        let parsed = parse(INVITE.as_bytes(), 65_535).unwrap();
        let Message::Request(request) = &parsed.message else {
            panic!("a request");
        };
        assert_eq!(request.body, b"v=0\r");
        assert_eq!(parsed.vias.len(), 2);
        assert_eq!(parsed.vias[1].branch(), Some("z9hG4bKb"));
        assert_eq!(parsed.call_id, "abc@127.0.0.1");
        assert_eq!(parsed.from.tag(), Some("1"));
        assert_eq!(parsed.max_forwards, Some(70));
        assert_eq!(
            request.headers.get(&HeaderName::parse("x-custom")),
            Some("kept")
        );
        let text = String::from_utf8(request.to_bytes()).unwrap();
        assert!(
            text.contains("\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKa\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nCall-ID: abc@127.0.0.1\r\n"), "{text}");
        assert!(text.ends_with("Content-Length: 4\r\n\r\nv=0\r"), "{text}");
    }

    #[test]
    fn a_short_body_is_rejected_with_a_salvage() {
        let text = INVITE.replace("l: 4", "l: 400");
        let rejected = parse(text.as_bytes(), 65_535).unwrap_err();
        assert_eq!(
            rejected.error,
            ParseError::BodyTooShort {
                declared: 400,
                present: 13
            }
        );
        assert_eq!(rejected.salvage.unwrap().method, Method::INVITE);
    }

    #[test]
    fn a_multibyte_character_in_the_start_line_is_no_panic() {
        // Found by the fuzzer: a byte-order mark inside the first four bytes.
        let rejected = parse("SI\u{feff}P/2.0 200 OK\r\n\r\n".as_bytes(), 65_535).unwrap_err();
        assert_eq!(rejected.error, ParseError::BadStartLine);
    }

    #[test]
    fn oversized_datagrams_are_rejected() {
        let rejected = parse(INVITE.as_bytes(), 100).unwrap_err();
        assert!(matches!(rejected.error, ParseError::TooLarge { .. }));
    }
}
