//! SIP text as a scripted peer writes it, for hand-driven benchmarks and tests that play the
//! callee with string templates.

/// The value of the first header called `name` (its long form, as TwoLeg writes it) in message
/// text; empty if there is none.
pub fn header_value<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_default()
}

/// A UAS's response to `request` (text): its Via, From, Call-ID and CSeq copied, its To with
/// `to_tag` added unless it has a tag, a Contact of `contact`, and `body` as SDP if not empty.
pub fn response_text(
    request: &str,
    status: &str,
    to_tag: &str,
    contact: &str,
    body: &str,
) -> String {
    let to = header_value(request, "To");
    let to = if to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag={to_tag}")
    };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <{contact}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        header_value(request, "Via"),
        header_value(request, "From"),
        header_value(request, "Call-ID"),
        header_value(request, "CSeq"),
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_copies_the_request_and_tags_its_to() {
        let request = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
            From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let text = response_text(request, "180 Ringing", "b", "sip:bob@127.0.0.1:5070", "");
        assert!(text.starts_with(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
        ));
        assert!(text.contains("To: <sip:bob@example.com>;tag=b\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        assert_eq!(header_value(&text, "CSeq"), "1 INVITE");
        assert_eq!(header_value(&text, "Max-Forwards"), "");
    }
}
