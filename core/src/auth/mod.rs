//! SIP digest authentication (RFC 3261 §22 with `qop=auth`, RFC 8760's SHA-256 beside MD5) for
//! zones whose policy is Check credentials: the challenge TwoLeg writes, the credentials it
//! reads from `Proxy-Authorization`, the response checked in constant time, and nonces that
//! expire and whose counts must rise, so that a request cannot be replayed.

mod digest;
mod nonces;

pub use self::digest::answer_challenge;
pub(crate) use self::digest::{DigestCredentials, challenge, constant_time_eq, response};
pub(crate) use self::nonces::{NonceState, Nonces};

/// Why a request's credentials were not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFailure {
    /// It carried no `Proxy-Authorization` for TwoLeg's realm (the first request of the
    /// round: it is challenged).
    NoCredentials,
    /// Its `Proxy-Authorization` cannot be read, or lacks a field digest needs, or asks for a
    /// `qop` or an algorithm TwoLeg did not offer.
    Malformed,
    /// The username is not one of the configured credentials.
    UnknownUser,
    /// The response does not match the password (or the method and URI).
    WrongResponse,
    /// The nonce is not one TwoLeg issued under its current secret (a restart); the password
    /// was right, so the new challenge says `stale=true`.
    UnknownNonce,
    /// The nonce is past its lifetime (challenged again with `stale=true`).
    StaleNonce,
    /// The nonce count did not rise: a replayed request.
    Replayed,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoCredentials => "no credentials",
            Self::Malformed => "unreadable credentials",
            Self::UnknownUser => "unknown user",
            Self::WrongResponse => "wrong password",
            Self::UnknownNonce => "unknown nonce",
            Self::StaleNonce => "stale nonce",
            Self::Replayed => "replayed nonce count",
        })
    }
}
