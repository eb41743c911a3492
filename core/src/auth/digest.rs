//! Digest credentials and challenges (RFC 3261 §22.4, RFC 7616 §3.4, RFC 8760): reading a
//! `Proxy-Authorization` value, computing the expected response, writing a challenge.

use md5::{Digest, Md5};
use sha2::Sha256;

use super::AuthFailure;
use crate::config::DigestAlgorithm;

/// The fields of one `Digest` credentials value that TwoLeg checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DigestCredentials {
    pub(crate) username: String,
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) uri: String,
    pub(crate) response: String,
    pub(crate) algorithm: DigestAlgorithm,
    pub(crate) cnonce: String,
    /// The nonce count, as written (8 hex digits) and read.
    pub(crate) nc: (String, u32),
}

impl DigestCredentials {
    /// Reads one credentials value. Only `qop=auth` is accepted (TwoLeg offers nothing else);
    /// without `algorithm` it is MD5 (RFC 3261).
    pub(crate) fn parse(value: &str) -> Result<Self, AuthFailure> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_at(value.find(char::is_whitespace).unwrap_or(value.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthFailure::Malformed);
        }
        let params = params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm").as_deref() {
            None => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => DigestAlgorithm::Sha256,
            Some(_) => return Err(AuthFailure::Malformed),
        };
        if !get("qop").is_some_and(|qop| qop.eq_ignore_ascii_case("auth")) {
            return Err(AuthFailure::Malformed);
        }
        let nc_text = get("nc").ok_or(AuthFailure::Malformed)?;
        let nc = u32::from_str_radix(&nc_text, 16).map_err(|_| AuthFailure::Malformed)?;
        let field = |name: &str| get(name).ok_or(AuthFailure::Malformed);
        Ok(Self {
            username: field("username")?,
            realm: field("realm")?,
            nonce: field("nonce")?,
            uri: field("uri")?,
            response: field("response")?.to_ascii_lowercase(),
            algorithm,
            cnonce: field("cnonce")?,
            nc: (nc_text, nc),
        })
    }
}

/// `name=value` pairs separated by commas; values are tokens or quoted strings (with `\`
/// escapes).
fn params(text: &str) -> Result<Vec<(String, String)>, AuthFailure> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || name.is_empty() {
            return Err(AuthFailure::Malformed);
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(AuthFailure::Malformed),
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or(AuthFailure::Malformed)?),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

/// The response a client knowing `password` computes for these credentials and `method`
/// (RFC 7616 §3.4.1 with `qop=auth`): lower-case hex.
pub(crate) fn response(credentials: &DigestCredentials, password: &str, method: &str) -> String {
    let hash = |text: String| hex_digest(credentials.algorithm, text.as_bytes());
    let ha1 = hash(format!(
        "{}:{}:{password}",
        credentials.username, credentials.realm
    ));
    let ha2 = hash(format!("{method}:{}", credentials.uri));
    hash(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        credentials.nonce, credentials.nc.0, credentials.cnonce
    ))
}

/// A client's `Proxy-Authorization` value answering `challenge` (a `Digest` challenge with
/// `qop="auth"`, MD5 or SHA-256) for a `method` request to `uri`; `None` when the challenge is
/// not one this client can answer.
pub fn answer_challenge(
    challenge: &str,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    let challenge = challenge.trim_start();
    let (scheme, rest) = challenge.split_at(
        challenge
            .find(char::is_whitespace)
            .unwrap_or(challenge.len()),
    );
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let params = params(rest).ok()?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (algorithm, name) = match get("algorithm").as_deref() {
        None => (DigestAlgorithm::Md5, "MD5"),
        Some(a) if a.eq_ignore_ascii_case("MD5") => (DigestAlgorithm::Md5, "MD5"),
        Some(a) if a.eq_ignore_ascii_case("SHA-256") => (DigestAlgorithm::Sha256, "SHA-256"),
        Some(_) => return None,
    };
    if !get("qop")?
        .split(',')
        .any(|q| q.trim().eq_ignore_ascii_case("auth"))
    {
        return None;
    }
    let credentials = DigestCredentials {
        username: username.to_owned(),
        realm: get("realm")?,
        nonce: get("nonce")?,
        uri: uri.to_owned(),
        response: String::new(),
        algorithm,
        cnonce: cnonce.to_owned(),
        nc: (format!("{nc:08x}"), nc),
    };
    let answer = response(&credentials, password, method);
    Some(format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{answer}\", algorithm={name}, cnonce=\"{cnonce}\", qop=auth, nc={}",
        credentials.realm, credentials.nonce, credentials.nc.0
    ))
}

/// A `Proxy-Authenticate` value for one algorithm (RFC 8760 §2.4: one header per algorithm,
/// the preferred first).
pub(crate) fn challenge(
    realm: &str,
    nonce: &str,
    algorithm: DigestAlgorithm,
    stale: bool,
) -> String {
    let name = match algorithm {
        DigestAlgorithm::Sha256 => "SHA-256",
        DigestAlgorithm::Md5 => "MD5",
    };
    let stale = if stale { ", stale=true" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={name}, qop=\"auth\"{stale}")
}

/// Whether two byte strings are equal, in time that depends on their length only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex_digest(algorithm: DigestAlgorithm, data: &[u8]) -> String {
    let bytes: Vec<u8> = match algorithm {
        DigestAlgorithm::Md5 => Md5::digest(data).to_vec(),
        DigestAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1's example (Mufasa, "Circle of Life"), both algorithms.
    fn rfc_7616(algorithm: &str) -> DigestCredentials {
        DigestCredentials::parse(&format!(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm={algorithm}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"8ca523f5e9506fed4657c9700eebdbec\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap()
    }

    #[test]
    fn the_rfc_7616_examples_compute_their_responses() {
        let md5 = rfc_7616("MD5");
        assert_eq!(
            response(&md5, "Circle of Life", "GET"),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = rfc_7616("SHA-256");
        assert_eq!(sha.algorithm, DigestAlgorithm::Sha256);
        assert_eq!(
            response(&sha, "Circle of Life", "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn credentials_without_qop_auth_or_with_an_unknown_algorithm_are_refused() {
        for value in [
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0\"",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0\", qop=auth-int, nc=00000001, cnonce=\"c\"",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0\", qop=auth, nc=00000001, cnonce=\"c\", algorithm=SHA-512-256",
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Digest username=\"unterminated",
        ] {
            assert_eq!(
                DigestCredentials::parse(value),
                Err(AuthFailure::Malformed),
                "{value}"
            );
        }
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let parsed = params(r#" username="a,\"b", realm=r"#).unwrap();
        assert_eq!(parsed[0], ("username".to_owned(), "a,\"b".to_owned()));
        assert_eq!(parsed[1], ("realm".to_owned(), "r".to_owned()));
    }

    #[test]
    fn an_answered_challenge_checks_out() {
        let challenge = challenge("twoleg", "abc123", DigestAlgorithm::Sha256, false);
        let value = answer_challenge(
            &challenge,
            "alice",
            "secret",
            "INVITE",
            "sip:bob@x",
            "c1",
            1,
        )
        .unwrap();
        let parsed = DigestCredentials::parse(&value).unwrap();
        assert_eq!(parsed.algorithm, DigestAlgorithm::Sha256);
        assert_eq!(parsed.response, response(&parsed, "secret", "INVITE"));
        assert_ne!(parsed.response, response(&parsed, "wrong", "INVITE"));
    }

    #[test]
    fn comparison_is_by_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
