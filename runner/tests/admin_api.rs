//! The admin HTTP API of the real `twoleg` binary.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_live_call_shows_two_legs_and_can_be_disconnected() {
    require_sipp();
    let ip = ip(21);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas(dir.path(), &ip);
    // One call that stays up for 20 s unless disconnected.
    let _uac = uac(dir.path(), &ip, 5080, &["-m", "1", "-d", "20000"]);
    assert!(eventually(Duration::from_secs(10), || {
        runner
            .calls()
            .first()
            .is_some_and(|c| c["legs"][0]["state"] == "confirmed")
    }));
    let call = runner.calls().remove(0);
    let legs = call["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0]["side"], "a");
    assert_eq!(legs[1]["side"], "b");
    assert_eq!(legs[0]["state"], "confirmed");
    assert_eq!(legs[1]["state"], "confirmed");
    assert_ne!(legs[0]["serial"], legs[1]["serial"]);
    let tag = call["tag"].as_str().unwrap().to_owned();

    let (status, _) = runner.request("DELETE", &format!("/api/calls/{tag}"));
    assert_eq!(status, 204);
    assert!(eventually(Duration::from_secs(5), || runner
        .calls()
        .is_empty()));
    let record = runner.history().remove(0);
    assert_eq!(record["tag"], tag.as_str());
    assert_eq!(record["outcome"], "disconnected");
    assert_eq!(record["ended_by"], "b2bua");
    let (status, _) = runner.request("DELETE", &format!("/api/calls/{tag}"));
    assert_eq!(status, 404, "the call is gone");
}

#[test]
fn config_health_and_metrics() {
    let ip = ip(22);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&ip).replace(
        r#""history""#,
        r#""lync_b2bua": { "enabled": true, "offer_turn_services": true },
  "turn_servers": [ { "address": "127.0.0.2", "username": "alice", "password": "s3cret-pass" } ],
  "history""#,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    assert_eq!(runner.get("/healthz"), (200, "ok\n".to_owned()));
    let (status, body) = runner.get("/api/config");
    assert_eq!(status, 200);
    assert!(
        !body.contains("s3cret-pass"),
        "the admin API shows no password: {body}"
    );
    let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["turn_servers"][0]["password"], "***");
    assert_eq!(shown["turn_servers"][0]["username"], "alice");
    assert!(
        !runner.log_text().contains("s3cret-pass"),
        "the log shows no password"
    );
    let (status, metrics) = runner.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "twoleg_calls_active 0",
        "twoleg_datagrams_in_total",
        "twoleg_datagrams_out_total",
        "twoleg_retransmissions_total",
        "twoleg_parse_errors_total",
        "twoleg_guest_traps_total 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    assert_eq!(
        runner.request("POST", "/api/fault").0,
        404,
        "fault injection is off by default"
    );
}
