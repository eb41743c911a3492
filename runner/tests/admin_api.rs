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

/// `curl` over HTTPS to the admin API (trusting `ca`), with a bearer token if given: the
/// status and body.
fn curl(ca: &std::path::Path, method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command
        .args(["-s", "-S", "--max-time", "10", "-X", method, "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code}", url]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let status = status.trim().parse().unwrap_or(0);
    if status == 0 {
        return (0, String::from_utf8_lossy(&output.stderr).into_owned());
    }
    (status, body.to_owned())
}

fn sha256_hex(text: &str) -> String {
    let output = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

#[test]
fn with_tokens_over_https_a_read_token_reads_and_only_an_operate_token_disconnects() {
    require_sipp();
    let ip = ip(26);
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("TwoLeg admin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let leaf = ca.leaf(dir.path(), "admin", "twoleg admin", &[&ip], false);
    let (reader, operator) = ("reader-7f3a9c", "operator-51be02");
    let config = config(&ip).replacen(
        &format!(r#""admin": {{ "listen": "{ip}:8080" }}"#),
        &format!(
            r#""admin": {{ "listen": "{ip}:8080",
                 "tokens": [ {{ "name": "dashboard", "role": "read", "sha256": "{}" }},
                             {{ "name": "ops", "role": "operate", "sha256": "{}" }} ],
                 "tls": {{ "certificate_chain": "{}", "private_key": "{}" }} }}"#,
            sha256_hex(reader),
            sha256_hex(operator),
            leaf.certificate.display(),
            leaf.key.display()
        ),
        1,
    );
    assert!(config.contains("tokens"), "{config}");
    let runner = Runner::spawn(&ip, &config, dir.path(), &[]);
    let base = format!("https://{ip}:8080");
    assert!(
        eventually(Duration::from_secs(60), || curl(
            &ca_file,
            "GET",
            &format!("{base}/healthz"),
            None
        )
        .0 == 200),
        "/healthz stays open, over HTTPS:\n{}",
        runner.log_text()
    );
    assert!(
        http(runner.admin(), "GET", "/healthz").is_none(),
        "no plain HTTP"
    );
    let _uas = uas(dir.path(), &ip);
    let _uac = uac(dir.path(), &ip, 5080, &["-m", "1", "-d", "20000"]);

    let calls = format!("{base}/api/calls");
    let started = std::time::Instant::now();
    let refused = curl(&ca_file, "GET", &calls, None);
    assert_eq!(refused.0, 401, "{refused:?}\n{}", runner.log_text());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "slowed down"
    );
    assert_eq!(curl(&ca_file, "GET", &calls, Some("guess")).0, 401);
    assert!(
        eventually(Duration::from_secs(10), || curl(
            &ca_file,
            "GET",
            &calls,
            Some(reader)
        )
        .1
        .contains("confirmed")),
        "{}",
        runner.log_text()
    );
    let (_, body) = curl(&ca_file, "GET", &calls, Some(reader));
    let live: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let tag = live[0]["tag"].as_str().unwrap().to_owned();
    let one = format!("{base}/api/calls/{tag}");
    assert_eq!(curl(&ca_file, "DELETE", &one, Some(reader)).0, 403);
    assert_eq!(curl(&ca_file, "DELETE", &one, Some(operator)).0, 204);
    let (status, config_shown) = curl(&ca_file, "GET", &format!("{base}/api/config"), Some(reader));
    assert_eq!(status, 200);
    assert!(
        !config_shown.contains(&sha256_hex(reader)),
        "token hashes are redacted"
    );
    let (_, metrics) = curl(&ca_file, "GET", &format!("{base}/metrics"), Some(reader));
    assert!(
        metrics.contains("twoleg_admin_auth_failures_total 2"),
        "{metrics}"
    );
    let log = runner.log_text();
    assert!(log.contains("authentication failed"));
    assert!(!log.contains(reader) && !log.contains(operator) && !log.contains("guess"));
}

#[test]
fn a_listen_address_off_loopback_without_tokens_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(27);
    let config = config(&ip).replacen(&format!("{ip}:8080"), "0.0.0.0:8080", 1);
    let mut runner = Runner::spawn(&ip, &config, dir.path(), &[]);
    let status = runner.wait(Duration::from_secs(30));
    assert!(!status.success());
    let log = runner.log_text();
    assert!(
        log.contains("admin.listen") && log.contains("not a loopback address"),
        "{log}"
    );
}
