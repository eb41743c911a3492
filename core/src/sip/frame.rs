//! Finding SIP messages in a byte stream (RFC 3261 §18.3): a message ends Content-Length bytes
//! after the empty line that ends its headers, and Content-Length is required. Empty lines
//! between messages are keep-alives (RFC 5626 §3.5.1): a double CRLF is a ping, to be answered
//! with a single CRLF (the pong).

use super::header::HeaderName;

/// What the front of a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole message yet: wait for more bytes.
    Incomplete,
    /// A keep-alive ping (CRLF CRLF) of this many bytes: answer with a pong (CRLF).
    Ping(usize),
    /// A lone CRLF (a pong, or padding before a start line): skip this many bytes.
    Skip(usize),
    /// A whole message of this many bytes.
    Message(usize),
    /// The stream cannot be framed any further: answer (when possible) and close.
    Error(FramingError),
}

/// Why a stream cannot be framed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum FramingError {
    /// The headers end without a Content-Length, which a stream requires (§18.3).
    #[error("no Content-Length on a stream")]
    MissingContentLength,
    /// The Content-Length is not a number, or there are several.
    #[error("malformed Content-Length on a stream")]
    BadContentLength,
    /// The message (or the headers still arriving) would exceed the size limit.
    #[error("a message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// How large it is (at least).
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Frames the front of `stream`, with messages of at most `limit` bytes.
pub fn frame(stream: &[u8], limit: usize) -> Frame {
    if stream.starts_with(b"\r\n\r\n") {
        return Frame::Ping(4);
    }
    if stream.starts_with(b"\r\n") {
        // A pong, or the first half of a ping: a ping needs the next two bytes.
        return match stream.get(2) {
            None => Frame::Incomplete,
            Some(b'\r') if stream.len() < 4 => Frame::Incomplete,
            Some(_) => Frame::Skip(2),
        };
    }
    let Some(head) = stream.windows(4).position(|w| w == b"\r\n\r\n") else {
        if stream.len() > limit {
            return Frame::Error(FramingError::TooLarge {
                size: stream.len(),
                limit,
            });
        }
        return Frame::Incomplete;
    };
    let head_len = head + 4;
    let mut declared = None;
    for line in stream[..head].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        if HeaderName::parse(name.trim()) != HeaderName::CONTENT_LENGTH {
            continue;
        }
        let value = std::str::from_utf8(&line[colon + 1..]).map(str::trim);
        match (declared, value.ok().and_then(|v| v.parse::<usize>().ok())) {
            (None, Some(length)) => declared = Some(length),
            _ => return Frame::Error(FramingError::BadContentLength),
        }
    }
    let Some(body) = declared else {
        return Frame::Error(FramingError::MissingContentLength);
    };
    let size = head_len.saturating_add(body);
    if size > limit {
        return Frame::Error(FramingError::TooLarge { size, limit });
    }
    if stream.len() < size {
        return Frame::Incomplete;
    }
    Frame::Message(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\
        Content-Length: 4\r\n\r\nbody";

    #[test]
    fn messages_keepalives_and_partial_reads() {
        assert_eq!(frame(OPTIONS, 65_535), Frame::Message(OPTIONS.len()));
        for cut in 0..OPTIONS.len() {
            assert_eq!(
                frame(&OPTIONS[..cut], 65_535),
                Frame::Incomplete,
                "{cut} bytes"
            );
        }
        let two = [OPTIONS, OPTIONS].concat();
        assert_eq!(frame(&two, 65_535), Frame::Message(OPTIONS.len()));
        assert_eq!(frame(b"\r\n\r\nOPTIONS", 65_535), Frame::Ping(4));
        assert_eq!(frame(b"\r\nOPTIONS", 65_535), Frame::Skip(2));
        assert_eq!(frame(b"\r\n", 65_535), Frame::Incomplete);
        assert_eq!(frame(b"\r\n\r", 65_535), Frame::Incomplete);
    }

    #[test]
    fn content_length_is_required_single_and_bounded() {
        let missing = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert_eq!(
            frame(missing, 65_535),
            Frame::Error(FramingError::MissingContentLength)
        );
        let compact = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
        assert_eq!(frame(compact, 65_535), Frame::Message(compact.len()));
        let twice = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            frame(twice, 65_535),
            Frame::Error(FramingError::BadContentLength)
        );
        let huge = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
        assert!(matches!(
            frame(huge, 65_535),
            Frame::Error(FramingError::TooLarge { .. })
        ));
        assert!(matches!(
            frame(&[b'A'; 70_000], 65_535),
            Frame::Error(FramingError::TooLarge { .. })
        ));
    }
}
