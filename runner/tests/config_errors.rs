//! A config with mistakes makes `twoleg check` and `twoleg run` exit non-zero naming each path.

mod common;

use std::process::Command;

use common::TWOLEG;

const BAD: &str = r#"{ "version": 1,
  "routes": [ { "destinaton": "127.0.0.1:5070", "destination": "" } ],
  "turn_servers": [ { "address": "127.0.0.1", "port": 70000, "username": "u", "password": "p" } ] }"#;

#[test]
fn check_and_run_refuse_a_bad_config_with_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, BAD).unwrap();
    for args in [vec!["check"], vec!["run", "--config"]] {
        let output = Command::new(TWOLEG)
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for path in [
            "routes[0].destinaton: unknown key; did you mean destination?",
            "routes[0].destination: is empty",
            "turn_servers[0].port: 70000 is not a port number",
        ] {
            assert!(
                stderr.contains(path),
                "{args:?}: {path} missing from:\n{stderr}"
            );
        }
    }
}

#[test]
fn check_accepts_the_default_and_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let default = Command::new(TWOLEG).arg("default-config").output().unwrap();
    assert!(default.status.success());
    let file = dir.path().join("default.json");
    std::fs::write(&file, &default.stdout).unwrap();
    let example = format!("{}/../core/config/example.json", env!("CARGO_MANIFEST_DIR"));
    for file in [file.to_str().unwrap(), example.as_str()] {
        let output = Command::new(TWOLEG).args(["check", file]).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains(": valid:"));
    }
    let schema = Command::new(TWOLEG).arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(schema["title"], "TwoLeg config file");
}
