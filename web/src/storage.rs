//! The working config kept in the browser's localStorage across reloads.

use gloo::storage::{LocalStorage, Storage};
use twoleg_core::config::{Config, DEFAULT_CONFIG};

const KEY: &str = "twoleg.config";

/// The saved working config, or the embedded default.
pub(crate) fn load() -> Config {
    LocalStorage::get::<Config>(KEY)
        .ok()
        .or_else(|| serde_json::from_str(DEFAULT_CONFIG).ok())
        .unwrap_or_default()
}

/// Saves the working config (passwords included: it is the user's own browser).
pub(crate) fn save(config: &Config) {
    let _ = LocalStorage::set(KEY, config);
}
