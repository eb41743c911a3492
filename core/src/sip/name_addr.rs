//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route.

use std::fmt;

use super::scan::{Scanner, is_token, write_params};
use super::uri::Uri;

/// A From, To, Contact, Route or Record-Route value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written (a quoted string keeps its quotes).
    pub display: Option<String>,
    /// The URI as written.
    pub uri: String,
    /// Header parameters (`;tag=...`, `;expires=...`).
    pub params: Vec<(String, Option<String>)>,
}

/// Why a name-addr value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameAddrError {
    /// A quoted display name with no closing quote.
    UnterminatedQuote,
    /// A display name that is neither tokens nor a quoted string.
    BadDisplayName,
    /// No `>` after `<`, or whitespace just inside the brackets.
    BadBrackets,
    /// The URI itself is malformed.
    BadUri,
    /// A URI with `;`, `,` or `?` that is not enclosed in `<>`.
    UnbracketedUriWithReserved,
    /// A malformed `;param`.
    BadParam,
}

impl NameAddr {
    /// A bracketed value with no display name and no parameters.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            display: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parses one value (already split from a comma-separated list).
    pub fn parse(text: &str) -> Result<Self, NameAddrError> {
        let mut s = Scanner::new(text);
        s.skip_ws();
        let mut display = None;
        let uri;
        if s.peek() == Some(b'"') {
            display = Some(
                s.quoted()
                    .ok_or(NameAddrError::UnterminatedQuote)?
                    .to_owned(),
            );
            if !s.eat(b'<') {
                return Err(NameAddrError::BadBrackets);
            }
            uri = bracketed(&mut s)?;
        } else if text.contains('<') {
            let before = s.until(b"<").trim();
            if !before.is_empty() {
                if !before
                    .split([' ', '\t'])
                    .filter(|w| !w.is_empty())
                    .all(is_token)
                {
                    return Err(NameAddrError::BadDisplayName);
                }
                display = Some(before.to_owned());
            }
            s.eat(b'<');
            uri = bracketed(&mut s)?;
        } else {
            let spec = s.until(b";").trim();
            if spec.contains(['?', ',']) {
                return Err(NameAddrError::UnbracketedUriWithReserved);
            }
            uri = spec.to_owned();
        }
        Uri::parse(&uri).map_err(|_| NameAddrError::BadUri)?;
        let params = s.params(&[]).ok_or(NameAddrError::BadParam)?;
        Ok(Self {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// A parameter's value (`Some("")` for a parameter without a value).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Sets or replaces the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
        self.params.push(("tag".to_owned(), Some(tag.to_owned())));
    }

    /// The parsed URI (it was checked when the value was read).
    pub fn parsed_uri(&self) -> Option<Uri> {
        Uri::parse(&self.uri).ok()
    }
}

fn bracketed(s: &mut Scanner<'_>) -> Result<String, NameAddrError> {
    let inner = s.until(b">");
    if !s.eat(b'>') || inner.is_empty() || inner.trim() != inner {
        return Err(NameAddrError::BadBrackets);
    }
    Ok(inner.to_owned())
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            write!(f, "{display} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_display_uri_and_tag() {
        let value = NameAddr::parse("\"Alice\" <sip:alice@example.com>;tag=abc").unwrap();
        assert_eq!(value.display.as_deref(), Some("\"Alice\""));
        assert_eq!(value.uri, "sip:alice@example.com");
        assert_eq!(value.tag(), Some("abc"));
        assert_eq!(
            value.to_string(),
            "\"Alice\" <sip:alice@example.com>;tag=abc"
        );
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let value = NameAddr::parse("sip:bob@example.com ;  tag  = 19n").unwrap();
        assert_eq!(value.uri, "sip:bob@example.com");
        assert_eq!(value.tag(), Some("19n"));
    }

    #[test]
    fn rejects_the_rfc_4475_mistakes() {
        assert_eq!(
            NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>"),
            Err(NameAddrError::UnterminatedQuote)
        );
        assert_eq!(
            NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
            Err(NameAddrError::BadDisplayName)
        );
        assert_eq!(
            NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >"),
            Err(NameAddrError::BadBrackets)
        );
        assert_eq!(
            NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            Err(NameAddrError::UnbracketedUriWithReserved)
        );
        assert_eq!(
            NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;"),
            Err(NameAddrError::BadParam)
        );
    }
}
