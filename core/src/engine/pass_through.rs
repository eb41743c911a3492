//! Which headers pass from a message on one leg into the matching message on the other.

use crate::config::HeaderPolicy;
use crate::sip::{HeaderName, Headers, Method};

/// Whether a header is copied from a message on one leg into the matching message on the other.
/// Headers that belong to one leg's transaction or dialog, or to an extension TwoLeg does not
/// take part in, and credentials, stay on their leg; everything else (Content-Type, Session-ID, User-Agent,
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
        // Credentials are for the hop they were written for: never relayed; nor the
        // challenges asking for them, which could not be answered through TwoLeg.
        HeaderName::AUTHORIZATION,
        HeaderName::PROXY_AUTHORIZATION,
        HeaderName::WWW_AUTHENTICATE,
        HeaderName::PROXY_AUTHENTICATE,
    ]
    .contains(name)
}

/// Copies the pass-through headers (the unknown ones as the route's `policy` says) and the body
/// of `from` onto `headers`/`body`.
pub(crate) fn copy_payload(
    from: &Headers,
    from_body: &[u8],
    headers: &mut Headers,
    body: &mut Vec<u8>,
    policy: &HeaderPolicy,
) {
    for (name, value) in from.iter() {
        if passes_through(name) && (name.is_known() || policy.passes(name.as_str())) {
            headers.push(name.clone(), value);
        }
    }
    body.clear();
    body.extend_from_slice(from_body);
}

/// The `Allow` a request or response TwoLeg relays carries (RFC 3261 §20.5, in an INVITE, an
/// UPDATE and their 2xx): the methods the peer on the other leg allows that TwoLeg relays, or,
/// when that peer said nothing, the methods TwoLeg relays. A peer's Allow is never copied as
/// it is (it would promise methods TwoLeg refuses), and never dropped (a strict peer then never
/// sends UPDATE).
pub(crate) fn advertise_allow(from: &Headers, headers: &mut Headers) {
    let relayed = super::ALLOWED;
    let allowed: Vec<&str> = if from.get(&HeaderName::ALLOW).is_some() {
        from.get_all(&HeaderName::ALLOW)
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|name| {
                relayed
                    .iter()
                    .any(|method| method.as_str().eq_ignore_ascii_case(name))
            })
            .collect()
    } else {
        relayed.iter().map(Method::as_str).collect()
    };
    if !allowed.is_empty() {
        headers.push(HeaderName::ALLOW, allowed.join(", "));
    }
}
