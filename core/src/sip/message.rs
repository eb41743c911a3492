//! SIP messages as TwoLeg holds and writes them.

use std::fmt::Write;

use super::header::{HeaderName, Headers};
use super::method::Method;
use super::status::StatusCode;

/// A request: method, Request-URI, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI as written.
    pub uri: String,
    /// Headers in order, without Content-Length (written from the body).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A response: status, reason phrase, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order, without Content-Length (written from the body).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// The wire form: start line, headers (canonical names), Content-Length, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "{} {} SIP/2.0\r\n", self.method, self.uri);
        encode(head, &self.headers, &self.body)
    }
}

impl Response {
    /// The wire form: status line, headers (canonical names), Content-Length, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "SIP/2.0 {} {}\r\n", self.status, self.reason);
        encode(head, &self.headers, &self.body)
    }
}

impl Message {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(request) => request.to_bytes(),
            Self::Response(response) => response.to_bytes(),
        }
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(request) => &request.headers,
            Self::Response(response) => &response.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(request) => &request.body,
            Self::Response(response) => &response.body,
        }
    }
}

fn encode(mut head: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    for (name, value) in headers.iter() {
        if *name == HeaderName::CONTENT_LENGTH {
            continue;
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
