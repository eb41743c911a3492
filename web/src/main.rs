//! TwoLeg's browser simulator and config editor.
//!
//! A skeleton for now: the Yew app that edits the config file and runs the simulator comes with
//! its own issue. Built natively it prints the embedded default config, so the crate is exercised
//! by the workspace build.

fn main() {
    let config = twoleg_core::config::ValidConfig::default_config();
    println!("{}", config.config().redacted().to_json());
}
