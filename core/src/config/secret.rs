//! A password that never shows itself in logs, panics or `Debug` output.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A TURN password.
///
/// `Debug` and `Display` print `***`. Serialising keeps the value, because the exported config
/// file must carry it to the runner; anything meant for display uses
/// [`Config::redacted`](super::Config::redacted) instead.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// What `Debug`, `Display` and redacted exports show instead of the password.
    pub const REDACTED: &'static str = "***";

    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the TURN client's message integrity key only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no password is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_password() {
        let password = Password::new("hunter2");
        assert_eq!(format!("{password:?}"), "***");
        assert_eq!(password.to_string(), "***");
        assert_eq!(format!("{:?}", Some(&password)), "Some(***)");
    }

    #[test]
    fn serialising_keeps_the_password_for_export() {
        let password = Password::new("hunter2");
        assert_eq!(serde_json::to_string(&password).unwrap(), "\"hunter2\"");
    }
}
