//! Header names (with RFC 3261 §7.3.3 compact forms) and the ordered header list of a message.

use std::fmt;

/// A header field name. Known names compare case-insensitively and print in canonical long
/// form; unknown names keep the text they arrived with, so they pass through untouched.
#[derive(Clone, Debug, Eq)]
pub struct HeaderName(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Known(Known),
    Other(String),
}

/// Declares the headers TwoLeg reads or writes, one row each: constant, canonical name, compact
/// form (RFC 3261 §7.3.3), documentation.
macro_rules! headers {
    ($($constant:ident $name:literal $compact:expr, $doc:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Known {
            $($constant,)*
        }

        impl Known {
            const ALL: &[Self] = &[$(Self::$constant,)*];

            fn name(self) -> &'static str {
                match self {
                    $(Self::$constant => $name,)*
                }
            }

            fn compact(self) -> Option<&'static str> {
                match self {
                    $(Self::$constant => $compact,)*
                }
            }
        }

        impl HeaderName {
            $(
                #[doc = $doc]
                pub const $constant: Self = Self(Repr::Known(Known::$constant));
            )*
        }
    };
}

headers! {
    VIA "Via" Some("v"), "Via (RFC 3261 §20.42).";
    FROM "From" Some("f"), "From (§20.20).";
    TO "To" Some("t"), "To (§20.39).";
    CALL_ID "Call-ID" Some("i"), "Call-ID (§20.8).";
    CSEQ "CSeq" None, "CSeq (§20.16).";
    MAX_FORWARDS "Max-Forwards" None, "Max-Forwards (§20.22).";
    CONTACT "Contact" Some("m"), "Contact (§20.10).";
    CONTENT_LENGTH "Content-Length" Some("l"), "Content-Length (§20.14).";
    CONTENT_TYPE "Content-Type" Some("c"), "Content-Type (§20.15).";
    ROUTE "Route" None, "Route (§20.34).";
    RECORD_ROUTE "Record-Route" None, "Record-Route (§20.30).";
    REQUIRE "Require" None, "Require (§20.32).";
    PROXY_REQUIRE "Proxy-Require" None, "Proxy-Require (§20.29).";
    SUPPORTED "Supported" Some("k"), "Supported (§20.37).";
    UNSUPPORTED "Unsupported" None, "Unsupported (§20.40).";
    ALLOW "Allow" None, "Allow (§20.5).";
    ACCEPT "Accept" None, "Accept (§20.1).";
    DATE "Date" None, "Date (§20.17).";
    REASON "Reason" None, "Reason (RFC 3326).";
    RETRY_AFTER "Retry-After" None, "Retry-After (§20.33).";
    SESSION_ID "Session-ID" None, "Session-ID (RFC 7989).";
    SERVER "Server" None, "Server (§20.35).";
    USER_AGENT "User-Agent" None, "User-Agent (§20.41).";
    SUBJECT "Subject" Some("s"), "Subject (§20.36).";
    RSEQ "RSeq" None, "RSeq (RFC 3262).";
    RACK "RAck" None, "RAck (RFC 3262).";
    SESSION_EXPIRES "Session-Expires" Some("x"), "Session-Expires (RFC 4028).";
    MIN_SE "Min-SE" None, "Min-SE (RFC 4028).";
    CONTENT_ENCODING "Content-Encoding" Some("e"), "Content-Encoding (§20.12).";
    EVENT "Event" Some("o"), "Event (RFC 6665).";
    REFER_TO "Refer-To" Some("r"), "Refer-To (RFC 3515).";
    REFERRED_BY "Referred-By" Some("b"), "Referred-By (RFC 3892).";
    ALLOW_EVENTS "Allow-Events" Some("u"), "Allow-Events (RFC 6665).";
    TIMESTAMP "Timestamp" None, "Timestamp (§20.38).";
    WARNING "Warning" None, "Warning (§20.43).";
    MS_DIAGNOSTICS "ms-diagnostics" None, "Microsoft's diagnostics on BYE and errors ([MS-SIPRE]).";
    AUTHORIZATION "Authorization" None, "Authorization (§20.7).";
    PROXY_AUTHORIZATION "Proxy-Authorization" None, "Proxy-Authorization (§20.28).";
    PROXY_AUTHENTICATE "Proxy-Authenticate" None, "Proxy-Authenticate (§20.27).";
    WWW_AUTHENTICATE "WWW-Authenticate" None, "WWW-Authenticate (§20.44).";
}

impl HeaderName {
    /// The name for header text as it arrived: compact forms expand, known names are
    /// recognised in any case.
    pub fn parse(text: &str) -> Self {
        for known in Known::ALL {
            if known.name().eq_ignore_ascii_case(text)
                || known
                    .compact()
                    .is_some_and(|c| c.eq_ignore_ascii_case(text))
            {
                return Self(Repr::Known(*known));
            }
        }
        Self(Repr::Other(text.to_owned()))
    }

    /// Whether TwoLeg knows this header (as opposed to an extension or vendor header).
    pub fn is_known(&self) -> bool {
        matches!(self.0, Repr::Known(_))
    }

    /// The name as written out.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(known) => known.name(),
            Repr::Other(text) => text,
        }
    }

    /// Whether the header's value is a comma-separated list whose elements TwoLeg splits into
    /// one entry each (RFC 3261 §7.3.1).
    pub(crate) fn is_split_list(&self) -> bool {
        [Self::VIA, Self::CONTACT, Self::ROUTE, Self::RECORD_ROUTE].contains(self)
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Known(a), Repr::Known(b)) => a == b,
            (Repr::Other(a), Repr::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl serde::Serialize for HeaderName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The headers of a message, in order, one entry per list element for Via, Contact, Route and
/// Record-Route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(HeaderName, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self(Vec::with_capacity(12))
    }

    /// Appends a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push((name, value.into()));
    }

    /// Puts a header before all others of the message.
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(0, (name, value.into()));
    }

    /// The first value of a header.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many entries a header has.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.0.iter().filter(|(n, _)| n == name).count()
    }

    /// Replaces the value of a header's first entry, or appends it when there is none.
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value.into(),
            None => self.push(name, value),
        }
    }

    /// Removes every entry of a header.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|(n, _)| n != name);
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        self.0.iter().map(|(n, v)| (n, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_mixed_case_names_expand() {
        assert_eq!(HeaderName::parse("v"), HeaderName::VIA);
        assert_eq!(HeaderName::parse("ViA"), HeaderName::VIA);
        assert_eq!(HeaderName::parse("i").as_str(), "Call-ID");
        assert_eq!(HeaderName::parse("l"), HeaderName::CONTENT_LENGTH);
        assert_eq!(HeaderName::parse("X-Custom").as_str(), "X-Custom");
    }
}
