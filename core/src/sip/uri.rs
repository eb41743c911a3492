//! SIP URIs, parsed as far as TwoLeg needs them: scheme, user, host, port, parameters.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A parsed URI. Non-SIP schemes keep their text in `opaque`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// Scheme, lower-cased (`sip`, `sips`, `tel`, ...).
    pub scheme: String,
    /// User part, if any (SIP URIs only).
    pub user: Option<String>,
    /// Host (SIP URIs only; IPv6 references without brackets).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// `;name[=value]` parameters of a SIP URI.
    pub params: Vec<(String, Option<String>)>,
    /// Everything after `scheme:` for other schemes, and `?headers` of SIP URIs.
    pub opaque: String,
}

/// Why a URI could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriError {
    /// No `scheme:`.
    NoScheme,
    /// A SIP URI with no host.
    NoHost,
    /// A port that is not a number from 0 to 65535.
    BadPort,
    /// Whitespace or a character that may not appear.
    BadCharacter,
}

impl Uri {
    /// Parses a URI as written between `<` and `>`, or as a Request-URI.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        if text.bytes().any(|c| c == b' ' || c == b'\t' || c < 0x20) {
            return Err(UriError::BadCharacter);
        }
        let (scheme, rest) = text.split_once(':').ok_or(UriError::NoScheme)?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            return Err(UriError::NoScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Ok(Self {
                scheme,
                user: None,
                host: String::new(),
                port: None,
                params: Vec::new(),
                opaque: rest.to_owned(),
            });
        }
        // The user part may hold `;`, `?` and `/` (RFC 3261 user-unreserved), so split at the
        // last `@` first.
        let (user, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hostpart, opaque) = match hostpart.split_once('?') {
            Some((h, headers)) => (h, headers.to_owned()),
            None => (hostpart, String::new()),
        };
        let mut pieces = hostpart.split(';');
        let hostport = pieces.next().unwrap_or_default();
        let params = pieces
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (p.to_owned(), None),
            })
            .collect();
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UriError::NoHost);
        }
        Ok(Self {
            scheme,
            user: user.map(|u| u.split(':').next().unwrap_or_default().to_owned()),
            host: host.to_owned(),
            port,
            params,
            opaque,
        })
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        self.scheme == "sip" || self.scheme == "sips"
    }

    /// The address a request for this URI goes to when its host is an IP literal
    /// (port 5060 when none is given). TwoLeg resolves no names: the core is sans-IO.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.host.parse().ok()?;
        Some(SocketAddr::new(ip, self.port.unwrap_or(5060)))
    }

    /// Whether the URI carries `;lr` (a loose router).
    pub fn is_loose_router(&self) -> bool {
        self.params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("lr"))
    }
}

/// `host[:port]`, with `[v6]` references.
pub(crate) fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), UriError> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UriError::NoHost)?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.parse().map_err(|_| UriError::BadPort)?),
            None if after.is_empty() => None,
            None => return Err(UriError::BadCharacter),
        };
        return Ok((host, port));
    }
    match hostport.split_once(':') {
        Some((host, port)) => Ok((host, Some(port.parse().map_err(|_| UriError::BadPort)?))),
        None => Ok((hostport, None)),
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_sip() {
            return write!(f, "{}:{}", self.scheme, self.opaque);
        }
        write!(f, "{}:", self.scheme)?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        if !self.opaque.is_empty() {
            write!(f, "?{}", self.opaque)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_host_port_and_params() {
        let uri = Uri::parse("sip:alice@127.0.0.1:5070;transport=udp").unwrap();
        assert_eq!(uri.user.as_deref(), Some("alice"));
        assert_eq!(uri.host, "127.0.0.1");
        assert_eq!(uri.port, Some(5070));
        assert_eq!(uri.socket_addr(), Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(uri.to_string(), "sip:alice@127.0.0.1:5070;transport=udp");
    }

    #[test]
    fn user_part_may_hold_reserved_characters() {
        let uri = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.host, "example.com");
        assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
    }

    #[test]
    fn other_schemes_are_kept_opaque() {
        let uri = Uri::parse("tel:+1-201-555-0123").unwrap();
        assert!(!uri.is_sip());
        assert_eq!(uri.to_string(), "tel:+1-201-555-0123");
        assert_eq!(Uri::parse("nothing"), Err(UriError::NoScheme));
    }

    #[test]
    fn ipv6_references() {
        let uri = Uri::parse("sips:bob@[2001:db8::1]:5061").unwrap();
        assert_eq!(uri.host, "2001:db8::1");
        assert_eq!(uri.port, Some(5061));
    }
}
