//! SIP methods: a newtype with constants for the ones TwoLeg knows and room for any other token.

use std::fmt;

/// A SIP request method (RFC 3261 §7.1: a case-sensitive token).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(Repr);

/// Declares the methods TwoLeg names, one row each: constant, token, documentation.
macro_rules! methods {
    ($($constant:ident $token:literal $doc:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        enum Repr {
            $($constant,)*
            Other(String),
        }

        impl Method {
            $(
                #[doc = $doc]
                pub const $constant: Self = Self(Repr::$constant);
            )*

            /// The method named by `token` (already checked to be a token).
            pub fn from_token(token: &str) -> Self {
                Self(match token {
                    $($token => Repr::$constant,)*
                    other => Repr::Other(other.to_owned()),
                })
            }

            /// The method as it is written on the wire.
            pub fn as_str(&self) -> &str {
                match &self.0 {
                    $(Repr::$constant => $token,)*
                    Repr::Other(other) => other,
                }
            }
        }
    };
}

methods! {
    ACK "ACK" "ACK.";
    BYE "BYE" "BYE.";
    CANCEL "CANCEL" "CANCEL.";
    INFO "INFO" "INFO (RFC 6086).";
    INVITE "INVITE" "INVITE.";
    MESSAGE "MESSAGE" "MESSAGE (RFC 3428).";
    NOTIFY "NOTIFY" "NOTIFY (RFC 6665).";
    OPTIONS "OPTIONS" "OPTIONS.";
    PRACK "PRACK" "PRACK (RFC 3262).";
    REFER "REFER" "REFER (RFC 3515).";
    REGISTER "REGISTER" "REGISTER.";
    SUBSCRIBE "SUBSCRIBE" "SUBSCRIBE (RFC 6665).";
    UPDATE "UPDATE" "UPDATE (RFC 3311).";
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
