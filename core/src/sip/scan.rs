//! A small scanner over one unfolded header value, for the typed header parsers.

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// Whether `text` is a non-empty token.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_token_char)
}

/// A cursor over header value text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after optional whitespace) if it is next.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A token after optional whitespace.
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.text[start..self.pos])
    }

    /// Text up to (not including) any of `stops` or the end; may be empty.
    pub(crate) fn until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| !stops.contains(&c)) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A quoted string including its quotes, after optional whitespace; `None` if unterminated.
    pub(crate) fn quoted(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(&self.text[start..self.pos]);
                }
                _ => self.pos += 1,
            }
            if self.pos > self.text.len() {
                return None;
            }
        }
    }

    /// `;name[=value]` parameters until the end or a stop character. Whitespace around `;` and
    /// `=` is allowed (RFC 3261 SEMI and EQUAL). `None` on an empty or malformed parameter.
    pub(crate) fn params(&mut self, stops: &[u8]) -> Option<Vec<(String, Option<String>)>> {
        let mut params = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Some(params),
                Some(c) if stops.contains(&c) => return Some(params),
                Some(b';') => self.pos += 1,
                Some(_) => return None,
            }
            let name = self.token()?;
            let value = if self.eat(b'=') {
                self.skip_ws();
                let value = if self.peek() == Some(b'"') {
                    self.quoted()?
                } else {
                    let start = self.pos;
                    while self
                        .peek()
                        .is_some_and(|c| is_token_char(c) || b":[]".contains(&c))
                    {
                        self.pos += 1;
                    }
                    &self.text[start..self.pos]
                };
                if value.is_empty() {
                    return None;
                }
                Some(value.to_owned())
            } else {
                None
            };
            params.push((name.to_owned(), value));
        }
    }
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub(crate) fn split_commas(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts
}

/// Writes `;name[=value]` parameters.
pub(crate) fn write_params(
    f: &mut std::fmt::Formatter<'_>,
    params: &[(String, Option<String>)],
) -> std::fmt::Result {
    for (name, value) in params {
        match value {
            Some(value) => write!(f, ";{name}={value}")?,
            None => write!(f, ";{name}")?,
        }
    }
    Ok(())
}
