//! SIP methods: a newtype with constants for the ones TwoLeg knows and room for any other token.

use std::fmt;

/// A SIP request method (RFC 3261 §7.1: a case-sensitive token).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Ack,
    Bye,
    Cancel,
    Info,
    Invite,
    Message,
    Notify,
    Options,
    Prack,
    Refer,
    Register,
    Subscribe,
    Update,
    Other(String),
}

impl Method {
    /// ACK.
    pub const ACK: Self = Self(Repr::Ack);
    /// BYE.
    pub const BYE: Self = Self(Repr::Bye);
    /// CANCEL.
    pub const CANCEL: Self = Self(Repr::Cancel);
    /// INFO (RFC 6086).
    pub const INFO: Self = Self(Repr::Info);
    /// INVITE.
    pub const INVITE: Self = Self(Repr::Invite);
    /// MESSAGE (RFC 3428).
    pub const MESSAGE: Self = Self(Repr::Message);
    /// NOTIFY (RFC 6665).
    pub const NOTIFY: Self = Self(Repr::Notify);
    /// OPTIONS.
    pub const OPTIONS: Self = Self(Repr::Options);
    /// PRACK (RFC 3262).
    pub const PRACK: Self = Self(Repr::Prack);
    /// REFER (RFC 3515).
    pub const REFER: Self = Self(Repr::Refer);
    /// REGISTER.
    pub const REGISTER: Self = Self(Repr::Register);
    /// SUBSCRIBE (RFC 6665).
    pub const SUBSCRIBE: Self = Self(Repr::Subscribe);
    /// UPDATE (RFC 3311).
    pub const UPDATE: Self = Self(Repr::Update);

    /// The method named by `token` (already checked to be a token).
    pub fn from_token(token: &str) -> Self {
        Self(match token {
            "ACK" => Repr::Ack,
            "BYE" => Repr::Bye,
            "CANCEL" => Repr::Cancel,
            "INFO" => Repr::Info,
            "INVITE" => Repr::Invite,
            "MESSAGE" => Repr::Message,
            "NOTIFY" => Repr::Notify,
            "OPTIONS" => Repr::Options,
            "PRACK" => Repr::Prack,
            "REFER" => Repr::Refer,
            "REGISTER" => Repr::Register,
            "SUBSCRIBE" => Repr::Subscribe,
            "UPDATE" => Repr::Update,
            other => Repr::Other(other.to_owned()),
        })
    }

    /// The method as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Ack => "ACK",
            Repr::Bye => "BYE",
            Repr::Cancel => "CANCEL",
            Repr::Info => "INFO",
            Repr::Invite => "INVITE",
            Repr::Message => "MESSAGE",
            Repr::Notify => "NOTIFY",
            Repr::Options => "OPTIONS",
            Repr::Prack => "PRACK",
            Repr::Refer => "REFER",
            Repr::Register => "REGISTER",
            Repr::Subscribe => "SUBSCRIBE",
            Repr::Update => "UPDATE",
            Repr::Other(other) => other,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
