//! Which headers pass from a message on one leg into the matching message on the other.

use crate::sip::{HeaderName, Headers};

/// Whether a header is copied from a message on one leg into the matching message on the other.
/// Headers that belong to one leg's transaction or dialog, or to an extension TwoLeg does not
/// take part in, stay on their leg; everything else (Content-Type, Session-ID, User-Agent,
/// unknown headers, ...) passes through untouched.
pub(crate) fn passes_through(name: &HeaderName) -> bool {
    ![
        HeaderName::VIA,
        HeaderName::FROM,
        HeaderName::TO,
        HeaderName::CALL_ID,
        HeaderName::CSEQ,
        HeaderName::MAX_FORWARDS,
        HeaderName::CONTACT,
        HeaderName::CONTENT_LENGTH,
        HeaderName::ROUTE,
        HeaderName::RECORD_ROUTE,
        HeaderName::REQUIRE,
        HeaderName::PROXY_REQUIRE,
        HeaderName::SUPPORTED,
        HeaderName::UNSUPPORTED,
        HeaderName::ALLOW,
        HeaderName::RSEQ,
        HeaderName::RACK,
        HeaderName::SESSION_EXPIRES,
        HeaderName::MIN_SE,
    ]
    .contains(name)
}

/// Copies the pass-through headers and the body of `from` onto `headers`/`body`.
pub(crate) fn copy_payload(
    from: &Headers,
    from_body: &[u8],
    headers: &mut Headers,
    body: &mut Vec<u8>,
) {
    for (name, value) in from.iter() {
        if passes_through(name) {
            headers.push(name.clone(), value);
        }
    }
    body.clear();
    body.extend_from_slice(from_body);
}
