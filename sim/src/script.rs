//! What scripted callers and callees do.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::MediaSecurity;

/// The caller's side of a scripted call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerScript {
    /// The Request-URI to call (default `sip:callee@example.com`).
    pub uri: Option<String>,
    /// Send CANCEL this long after the INVITE, if no final response came by then.
    pub cancel_after: Option<Duration>,
    /// Send BYE this long after the answer.
    pub hang_up_after: Option<Duration>,
    /// Send a re-INVITE (hold) this long after the answer.
    pub reinvite_after: Option<Duration>,
    /// Send the INVITE without SDP (late offer: the answer goes in the ACK).
    pub late_offer: bool,
    /// What media the caller offers: clear RTP, SRTP or opportunistic SRTP.
    #[serde(default)]
    pub media: MediaSecurity,
    /// Digest credentials: a 407 to the INVITE is answered once with a new INVITE carrying
    /// `Proxy-Authorization` (the first challenge the caller can answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SimCredentials>,
}

/// A scripted caller's digest username and password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCredentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for SimCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCredentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// The callee's side of a scripted call. It travels to the callee in an `X-Sim-Callee` header
/// of the INVITE, which TwoLeg passes through like any unknown header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CalleeScript {
    /// Ring (180), then answer (200) after `after`; hang up `hang_up_after` the answer.
    Answer {
        /// Time from the INVITE to the 200.
        after: Duration,
        /// Send BYE this long after the answer.
        hang_up_after: Option<Duration>,
    },
    /// Ring, then refuse with `code` after `after`.
    Reject {
        /// The final status (4xx, 5xx, 6xx).
        code: u16,
        /// Time from the INVITE to the refusal.
        after: Duration,
    },
    /// Ring and never answer.
    NoAnswer,
    /// Send nothing at all (a dead callee).
    Silent,
}

impl Default for CalleeScript {
    fn default() -> Self {
        Self::Answer {
            after: Duration::from_millis(100),
            hang_up_after: None,
        }
    }
}

impl fmt::Display for CalleeScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer {
                after,
                hang_up_after,
            } => {
                write!(f, "answer;after={}", after.as_millis())?;
                if let Some(hang_up) = hang_up_after {
                    write!(f, ";hangup={}", hang_up.as_millis())?;
                }
                Ok(())
            }
            Self::Reject { code, after } => {
                write!(f, "reject;code={code};after={}", after.as_millis())
            }
            Self::NoAnswer => f.write_str("noanswer"),
            Self::Silent => f.write_str("silent"),
        }
    }
}

impl CalleeScript {
    /// Reads the `X-Sim-Callee` header value; anything unreadable answers at once.
    pub fn parse(text: &str) -> Self {
        let mut parts = text.split(';');
        let kind = parts.next().unwrap_or_default().trim();
        let get = |name: &str| -> Option<u64> {
            text.split(';')
                .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
        };
        let ms = Duration::from_millis;
        let _ = parts.next();
        match kind {
            "reject" => Self::Reject {
                code: get("code")
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(486),
                after: ms(get("after").unwrap_or(0)),
            },
            "noanswer" => Self::NoAnswer,
            "silent" => Self::Silent,
            _ => Self::Answer {
                after: ms(get("after").unwrap_or(0)),
                hang_up_after: get("hangup").map(ms),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_travel_as_header_text() {
        for script in [
            CalleeScript::Answer {
                after: Duration::from_millis(250),
                hang_up_after: Some(Duration::from_millis(3_000)),
            },
            CalleeScript::Reject {
                code: 486,
                after: Duration::from_millis(10),
            },
            CalleeScript::NoAnswer,
            CalleeScript::Silent,
        ] {
            assert_eq!(CalleeScript::parse(&script.to_string()), script);
        }
    }
}
