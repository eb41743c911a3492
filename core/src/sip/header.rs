//! Header names (with RFC 3261 §7.3.3 compact forms) and the ordered header list of a message.

use std::fmt;

/// A header field name. Known names compare case-insensitively and print in canonical long
/// form; unknown names keep the text they arrived with, so they pass through untouched.
#[derive(Clone, Debug, Eq)]
pub struct HeaderName(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Known(usize),
    Other(String),
}

/// Canonical names and compact forms of the headers TwoLeg reads or writes.
const KNOWN: &[(&str, Option<&str>)] = &[
    ("Via", Some("v")),
    ("From", Some("f")),
    ("To", Some("t")),
    ("Call-ID", Some("i")),
    ("CSeq", None),
    ("Max-Forwards", None),
    ("Contact", Some("m")),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("Route", None),
    ("Record-Route", None),
    ("Require", None),
    ("Proxy-Require", None),
    ("Supported", Some("k")),
    ("Unsupported", None),
    ("Allow", None),
    ("Accept", None),
    ("Date", None),
    ("Reason", None),
    ("Retry-After", None),
    ("Session-ID", None),
    ("Server", None),
    ("User-Agent", None),
    ("Subject", Some("s")),
    ("RSeq", None),
    ("RAck", None),
    ("Session-Expires", Some("x")),
    ("Min-SE", None),
    ("Content-Encoding", Some("e")),
    ("Event", Some("o")),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Allow-Events", Some("u")),
];

macro_rules! known {
    ($($name:ident = $index:literal;)*) => {
        impl HeaderName {
            $(
                #[doc = concat!("The header at index ", $index, " of the known-name table.")]
                pub const $name: Self = Self(Repr::Known($index));
            )*
        }
    };
}

known! {
    VIA = 0;
    FROM = 1;
    TO = 2;
    CALL_ID = 3;
    CSEQ = 4;
    MAX_FORWARDS = 5;
    CONTACT = 6;
    CONTENT_LENGTH = 7;
    CONTENT_TYPE = 8;
    ROUTE = 9;
    RECORD_ROUTE = 10;
    REQUIRE = 11;
    PROXY_REQUIRE = 12;
    SUPPORTED = 13;
    UNSUPPORTED = 14;
    ALLOW = 15;
    ACCEPT = 16;
    DATE = 17;
    REASON = 18;
    RETRY_AFTER = 19;
    SESSION_ID = 20;
    SERVER = 21;
    USER_AGENT = 22;
    SUBJECT = 23;
    RSEQ = 24;
    RACK = 25;
    SESSION_EXPIRES = 26;
    MIN_SE = 27;
}

impl HeaderName {
    /// The name for header text as it arrived: compact forms expand, known names are
    /// recognised in any case.
    pub fn parse(text: &str) -> Self {
        for (index, (long, compact)) in KNOWN.iter().enumerate() {
            if long.eq_ignore_ascii_case(text)
                || compact.is_some_and(|c| c.eq_ignore_ascii_case(text))
            {
                return Self(Repr::Known(index));
            }
        }
        Self(Repr::Other(text.to_owned()))
    }

    /// The name as written out.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(index) => KNOWN[*index].0,
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
