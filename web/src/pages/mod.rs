//! The pages, one per file.

pub(crate) mod call_history;
pub(crate) mod call_status;
pub(crate) mod config_file;
pub(crate) mod ladder;
pub(crate) mod lync;
pub(crate) mod settings;
pub(crate) mod simulator;
pub(crate) mod turn_servers;
pub(crate) mod zones;
