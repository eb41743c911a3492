//! Via header values (RFC 3261 §20.42, RFC 3581 `rport`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::scan::{Scanner, write_params};
use super::uri::split_host_port;

/// The branch prefix of RFC 3261 transaction ids.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport (`UDP`, `TCP`, ...), upper-cased.
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// Parameters in order (`branch`, `received`, `rport`, ...).
    pub params: Vec<(String, Option<String>)>,
}

/// Why a Via value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViaError {
    /// Not `SIP/2.0/transport`.
    BadProtocol,
    /// A missing or malformed sent-by.
    BadSentBy,
    /// A malformed `;param`.
    BadParam,
}

impl Via {
    /// A Via for a request TwoLeg sends over `transport` (`UDP`, `TCP`, `TLS`) from `local`
    /// with this branch, asking for `rport`.
    pub fn new(transport: &str, local: SocketAddr, branch: &str) -> Self {
        Self {
            transport: transport.to_ascii_uppercase(),
            host: local.ip().to_string(),
            port: Some(local.port()),
            params: vec![
                ("branch".to_owned(), Some(branch.to_owned())),
                ("rport".to_owned(), None),
            ],
        }
    }

    /// Parses one Via value.
    pub fn parse(text: &str) -> Result<Self, ViaError> {
        let mut s = Scanner::new(text);
        let protocol = s.token().ok_or(ViaError::BadProtocol)?;
        if !protocol.eq_ignore_ascii_case("SIP") || !s.eat(b'/') {
            return Err(ViaError::BadProtocol);
        }
        if s.token() != Some("2.0") || !s.eat(b'/') {
            return Err(ViaError::BadProtocol);
        }
        let transport = s.token().ok_or(ViaError::BadProtocol)?.to_ascii_uppercase();
        s.skip_ws();
        let sent_by = s.until(b"; \t");
        let mut sent_by = sent_by.to_owned();
        // `host : port` with whitespace around the colon.
        s.skip_ws();
        if s.peek() == Some(b':') {
            s.eat(b':');
            s.skip_ws();
            sent_by.push(':');
            sent_by.push_str(s.until(b"; \t"));
        }
        let (host, port) = split_host_port(&sent_by).map_err(|_| ViaError::BadSentBy)?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-:".contains(&c))
        {
            return Err(ViaError::BadSentBy);
        }
        let params = s.params(&[]).ok_or(ViaError::BadParam)?;
        Ok(Self {
            transport,
            host: host.to_owned(),
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// A parameter's value (`Some("")` for one without a value).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Whether the branch is an RFC 3261 transaction id (magic cookie plus something unique).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// `host[:port]` as written, the sent-by part of a transaction key.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// Records where the request really came from (RFC 3261 §18.2.1, RFC 3581 §4): `received`
    /// when the source IP differs from sent-by, and the source port in an empty `rport`.
    pub fn stamp_source(&mut self, source: SocketAddr) {
        let host_ip: Option<IpAddr> = self.host.parse().ok();
        let mut has_rport = false;
        for (name, value) in &mut self.params {
            if name.eq_ignore_ascii_case("rport") {
                *value = Some(source.port().to_string());
                has_rport = true;
            }
        }
        if has_rport || host_ip != Some(source.ip()) {
            self.params
                .retain(|(n, _)| !n.eq_ignore_ascii_case("received"));
            self.params
                .push(("received".to_owned(), Some(source.ip().to_string())));
        }
    }

    /// Where a response to this Via goes (RFC 3261 §18.2.2, RFC 3581 §4). Over UDP: the source
    /// IP, and the `rport` port if present, else the sent-by port (5060 by default). Over a
    /// stream the response goes back on the request's connection; this is where a new
    /// connection goes should that one be gone: the source IP and the sent-by port (5060, or
    /// 5061 for TLS, by default).
    pub fn response_address(&self, source: SocketAddr) -> SocketAddr {
        let port = match (self.transport.as_str(), self.param("rport")) {
            ("UDP", Some(_)) => source.port(),
            ("TLS", _) => self.port.unwrap_or(5061),
            _ => self.port.unwrap_or(5060),
        };
        SocketAddr::new(source.ip(), port)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} ", self.transport)?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tortuous_whitespace() {
        let via = Via::parse("SIP  /   2.0 /UDP     192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "192.0.2.2");
        assert_eq!(via.branch(), Some("390skdjuw"));
        assert!(!via.has_rfc3261_branch());
        let via =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
                .unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK9ikj8"));
    }

    #[test]
    fn rport_sends_responses_back_to_the_source() {
        let source: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut via = Via::parse("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKx;rport").unwrap();
        assert_eq!(via.response_address(source), source);
        via.stamp_source(source);
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKx;rport=40000;received=127.0.0.1"
        );
        let plain = Via::parse("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKx").unwrap();
        assert_eq!(
            plain.response_address(source),
            "127.0.0.1:5080".parse().unwrap()
        );
    }

    #[test]
    fn rejects_empty_params() {
        assert_eq!(
            Via::parse("SIP/2.0/UDP 192.0.2.15;;"),
            Err(ViaError::BadParam)
        );
        assert_eq!(Via::parse("SIP/3.0/UDP host"), Err(ViaError::BadProtocol));
    }
}
