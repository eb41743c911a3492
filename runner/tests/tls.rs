//! SIP over TLS through the real runner, with certificates made at test time: real baresip as
//! caller and callee through TwoLeg with mutual TLS, a client certificate from another CA
//! refused while a call goes on, SRTP on both legs over TLS, `openssl s_client` for protocol versions (1.2 and 1.3, nothing
//! older), and `twoleg check` on broken certificate files.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::baresip::{Baresip, require_baresip};
use common::dnsmasq::Dnsmasq;
use common::pki::{Ca, Leaf};
use common::*;

/// A UDP listener on `ip:5060` and a TLS one on `ip:5061` (mutual TLS if `mutual`); the route
/// reaches `callee` over TLS from the TLS listener.
fn tls_config(ip: &str, leaf: &Leaf, ca: &Path, mutual: bool, callee: &str) -> String {
    tls_config_with_zones(ip, leaf, ca, mutual, callee, "[]")
}

/// As [`tls_config`], with these zones (JSON).
fn tls_config_with_zones(
    ip: &str,
    leaf: &Leaf,
    ca: &Path,
    mutual: bool,
    callee: &str,
    zones: &str,
) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{
    "listeners": [
      {{ "name": "udp", "address": "{ip}:5060" }},
      {{ "name": "tls", "address": "{ip}:5061", "transport": "tls",
         "tls": {{ "certificate_chain": "{certificate}", "private_key": "{key}",
                   "ca": "{ca}", "require_client_certificate": {mutual} }} }}
    ],
    "connections": {{ "max": 100, "idle_timeout_s": 600, "handshake_timeout_ms": 2000 }}
  }},
  "routes": [ {{ "name": "callee", "destination": "{callee}", "listener": "tls" }} ],
  "zones": {zones},
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
}}"#,
        certificate = leaf.certificate.display(),
        key = leaf.key.display(),
        ca = ca.display(),
    )
}

/// `openssl s_client` toward `target` with these arguments; its output, both streams.
///
/// Its input stays open for up to three seconds, so that a refusal sent after the client's
/// side of a TLS 1.3 handshake (a client certificate the server rejects) is read, not raced by
/// the client's own close; a client that is not refused is then closed.
fn s_client(target: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", target, "-brief"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs (apt-get install openssl; .ci/run does this)");
    let stdin = child.stdin.take();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if child
            .try_wait()
            .expect("openssl can be waited for")
            .is_some()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let output: Output = child.wait_with_output().expect("openssl's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn metric(runner: &Runner, name: &str) -> u64 {
    let (_, metrics) = runner.get("/metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{metrics}"))
}

#[test]
fn baresip_calls_baresip_through_twoleg_over_mutual_tls() {
    require_baresip();
    let (ip, callee_ip, caller_ip) = (ip(117), ip(118), ip(119));
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("TwoLeg test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let twoleg = ca.leaf(dir.path(), "twoleg", "twoleg", &[&ip], false);
    let callee_leaf = ca.leaf(dir.path(), "callee", "baresip callee", &[&callee_ip], false);
    let caller_leaf = ca.leaf(dir.path(), "caller", "baresip caller", &[&caller_ip], false);
    let stranger_ca = Ca::new("Another CA");
    let stranger = stranger_ca.leaf(dir.path(), "stranger", "stranger", &["127.0.0.1"], false);

    let config = tls_config(&ip, &twoleg, &ca_file, true, &format!("{callee_ip}:5091"));
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _callee = Baresip::callee(dir.path(), &callee_ip, &callee_leaf, &ca_file, 30);
    std::thread::sleep(Duration::from_millis(500));
    let mut caller = Baresip::caller(
        dir.path(),
        &caller_ip,
        &caller_leaf,
        &ca_file,
        &format!("sip:callee@{ip}:5061"),
        6,
    );

    // While the call is up: both legs over TLS, the caller's certificate seen.
    assert!(
        eventually(Duration::from_secs(5), || runner
            .calls()
            .iter()
            .any(|call| call["legs"][1]["state"] == "confirmed")),
        "the call is answered:\n{}\n{}",
        caller.text(),
        runner.log_text()
    );
    let calls = runner.calls();
    assert_eq!(calls[0]["legs"][0]["transport"], "tls");
    assert_eq!(calls[0]["legs"][1]["transport"], "tls");
    let (_, connections) = runner.get("/api/connections");
    let connections: Vec<serde_json::Value> = serde_json::from_str(&connections).unwrap();
    let inbound = connections
        .iter()
        .find(|c| c["direction"] == "inbound")
        .unwrap_or_else(|| panic!("{connections:?}"));
    assert_eq!(inbound["transport"], "tls");
    assert!(
        inbound["tls"]["peer_certificate"]
            .as_str()
            .is_some_and(|subject| subject.contains("baresip caller")),
        "{inbound}"
    );
    let outbound = connections
        .iter()
        .find(|c| c["direction"] == "outbound")
        .unwrap_or_else(|| panic!("{connections:?}"));
    assert_eq!(outbound["peer"], format!("{callee_ip}:5091"));
    assert!(
        outbound["tls"]["peer_certificate"]
            .as_str()
            .is_some_and(|subject| subject.contains("baresip callee")),
        "TwoLeg verified the callee's certificate: {outbound}"
    );

    // A client with a certificate from another CA is refused, and counted; the call goes on.
    let target = format!("{ip}:5061");
    let (ok, text) = s_client(
        &target,
        &[
            "-cert",
            &stranger.certificate.to_string_lossy(),
            "-key",
            &stranger.key.to_string_lossy(),
        ],
    );
    assert!(!ok || text.contains("alert"), "refused: {text}");
    let (ok, text) = s_client(&target, &[]);
    assert!(
        !ok || text.contains("alert"),
        "no certificate, refused: {text}"
    );
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &runner,
            "twoleg_tls_handshake_failures_total"
        ) == 2),
        "{}",
        runner.log_text()
    );
    assert!(runner.log_text().contains("TLS handshake failed"));

    assert!(caller.wait(Duration::from_secs(20)).success());
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 1),
        "{}",
        runner.log_text()
    );
    let record = &runner.history()[0];
    assert_eq!(record["final_status"], 200, "{record}");
    assert_eq!(record["outcome"], "completed", "{record}");
    assert_eq!(record["ended_by"], "caller", "{record}");
    let connected_ns =
        record["ended_at"].as_u64().unwrap() - record["answered_at"].as_u64().unwrap();
    assert!(
        connected_ns >= 3_000_000_000,
        "the call lasted until the caller hung up: {record}"
    );
    assert_eq!(record["legs"][0]["transport"], "tls");
    assert_eq!(record["legs"][1]["transport"], "tls");
}

#[test]
fn tls_to_a_host_name_checks_the_certificate_against_that_name() {
    // The callee's certificate names only `callee.test` (no IP address): TwoLeg finds the
    // callee through dnsmasq and must check the certificate against the name it resolved
    // (RFC 5922), not against the address.
    require_baresip();
    let (ip, callee_ip, caller_ip) = (ip(123), ip(124), ip(125));
    let dir = tempfile::tempdir().unwrap();
    let dns = Dnsmasq::start(dir.path(), &ip, &[], &format!("{callee_ip} callee.test\n"));
    let ca = Ca::new("TwoLeg test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let twoleg = ca.leaf(dir.path(), "twoleg", "twoleg", &[&ip], false);
    let callee_leaf = ca.leaf(
        dir.path(),
        "callee",
        "named callee",
        &["callee.test"],
        false,
    );
    let caller_leaf = ca.leaf(dir.path(), "caller", "baresip caller", &[&caller_ip], false);
    let config = tls_config(&ip, &twoleg, &ca_file, false, "callee.test:5091").replacen(
        r#""admin""#,
        &format!(r#""dns": {{ "servers": ["{}"] }}, "admin""#, dns.address),
        1,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _callee = Baresip::callee(dir.path(), &callee_ip, &callee_leaf, &ca_file, 30);
    std::thread::sleep(Duration::from_millis(500));
    let mut caller = Baresip::caller(
        dir.path(),
        &caller_ip,
        &caller_leaf,
        &ca_file,
        &format!("sip:callee@{ip}:5061"),
        3,
    );
    assert!(caller.wait(Duration::from_secs(20)).success());
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 1),
        "{}",
        runner.log_text()
    );
    let record = &runner.history()[0];
    assert_eq!(
        record["final_status"],
        200,
        "{record}\n{}",
        runner.log_text()
    );
    assert_eq!(record["legs"][1]["peer"], format!("{callee_ip}:5091"));
    let (_, connections) = runner.get("/api/connections");
    assert!(
        connections.contains("named callee"),
        "TwoLeg verified the callee's certificate: {connections}"
    );
    assert!(dns.log_text().contains("callee.test"));
}

#[test]
fn tls_1_3_and_1_2_are_spoken_and_nothing_older() {
    let ip = ip(120);
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("TwoLeg test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let twoleg = ca.leaf(dir.path(), "twoleg", "twoleg", &[&ip], false);
    let config = tls_config(&ip, &twoleg, &ca_file, false, &format!("{ip}:5071"));
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let target = format!("{ip}:5061");
    let ca_path = ca_file.to_string_lossy();
    let verify = [
        "-CAfile",
        &ca_path,
        "-verify_return_error",
        "-verify_ip",
        &ip,
    ];

    let (ok, text) = s_client(&target, &[&["-tls1_3"][..], &verify].concat());
    assert!(ok && text.contains("Protocol version: TLSv1.3"), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
    let (ok, text) = s_client(&target, &[&["-tls1_2"][..], &verify].concat());
    assert!(ok && text.contains("Protocol version: TLSv1.2"), "{text}");
    for old in ["-tls1_1", "-tls1"] {
        let (ok, text) = s_client(&target, &[old, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert!(!ok, "{old} refused: {text}");
        assert!(!text.contains("Protocol version"), "{old}: {text}");
    }
    assert!(
        eventually(Duration::from_secs(5), || metric(
            &runner,
            "twoleg_tls_handshake_failures_total"
        ) == 2),
        "{}",
        runner.log_text()
    );
    assert_eq!(
        metric(&runner, "twoleg_connections_opened_total"),
        2,
        "the two good handshakes came up, the old versions did not"
    );
}

#[test]
fn check_names_the_file_of_each_certificate_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("TwoLeg test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let good = ca.leaf(dir.path(), "good", "good", &["127.0.0.1"], false);
    let other = ca.leaf(dir.path(), "other", "other", &["127.0.0.1"], false);
    let expired = ca.leaf(dir.path(), "expired", "expired", &["127.0.0.1"], true);
    let missing = dir.path().join("missing.pem");
    let listener = |port: u16, certificate: &Path, key: &Path| {
        format!(
            r#"{{ "name": "tls{port}", "address": "127.0.0.1:{port}", "transport": "tls",
                 "tls": {{ "certificate_chain": "{}", "private_key": "{}", "ca": "{}" }} }}"#,
            certificate.display(),
            key.display(),
            ca_file.display()
        )
    };
    let config = format!(
        r#"{{ "sip": {{ "listeners": [ {}, {}, {}, {} ] }} }}"#,
        listener(5061, &good.certificate, &good.key),
        listener(5062, &expired.certificate, &expired.key),
        listener(5063, &good.certificate, &other.key),
        listener(5064, &missing, &good.key),
    );
    let file = dir.path().join("twoleg.json");
    std::fs::write(&file, config).unwrap();
    let output = Command::new(TWOLEG)
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{errors}");
    let lines: Vec<&str> = errors.lines().collect();
    let has = |needles: &[&str]| {
        lines
            .iter()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
    };
    assert!(
        has(&[
            "sip.listeners[1].tls",
            &expired.certificate.to_string_lossy(),
            "expired on"
        ]),
        "{errors}"
    );
    assert!(
        has(&[
            "sip.listeners[2].tls",
            &good.certificate.to_string_lossy(),
            &other.key.to_string_lossy(),
            "do not make a certificate and its key"
        ]),
        "{errors}"
    );
    assert!(
        has(&[
            "sip.listeners[3].tls",
            &missing.to_string_lossy(),
            "cannot read"
        ]),
        "{errors}"
    );
    assert!(
        !lines.iter().any(|line| line.contains("sip.listeners[0]")),
        "the good listener has no problem: {errors}"
    );
    assert!(errors.contains("3 problem(s)"), "{errors}");
}

#[test]
fn relative_tls_file_names_are_read_next_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("TwoLeg test CA");
    ca.write(dir.path(), "ca.pem");
    ca.leaf(dir.path(), "good", "good", &["127.0.0.1"], false);
    let config = r#"{ "sip": { "listeners": [ { "name": "tls", "address": "127.0.0.1:5061",
        "transport": "tls", "tls": { "certificate_chain": "good.pem", "private_key": "good.key",
        "ca": "ca.pem" } } ] } }"#;
    let file = dir.path().join("twoleg.json");
    std::fs::write(&file, config).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let check = |file: &Path| {
        Command::new(TWOLEG)
            .arg("check")
            .arg(file)
            .current_dir(elsewhere.path())
            .output()
            .unwrap()
    };
    let output = check(&file);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The same names in a config file elsewhere name files that are not there.
    let moved = elsewhere.path().join("twoleg.json");
    std::fs::write(&moved, config).unwrap();
    let output = check(&moved);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{errors}");
    assert!(
        errors.contains(&elsewhere.path().join("good.pem").display().to_string()),
        "{errors}"
    );
}

#[test]
fn baresip_over_tls_with_srtp_on_both_legs_through_twoleg() {
    require_baresip();
    let (ip, callee_ip, caller_ip) = (ip(150), ip(151), ip(152));
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("TwoLeg test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let twoleg = ca.leaf(dir.path(), "twoleg", "twoleg", &[&ip], false);
    let callee_leaf = ca.leaf(dir.path(), "callee", "baresip callee", &[&callee_ip], false);
    let caller_leaf = ca.leaf(dir.path(), "caller", "baresip caller", &[&caller_ip], false);
    let zones = format!(
        r#"[ {{ "name": "secure", "peers": ["{caller_ip}", "{callee_ip}"],
               "media_encryption_mode": "force_encrypted" }} ]"#
    );
    let config = tls_config_with_zones(
        &ip,
        &twoleg,
        &ca_file,
        false,
        &format!("{callee_ip}:5091"),
        &zones,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let callee = Baresip::tls_callee(
        dir.path(),
        &callee_ip,
        &callee_leaf,
        &ca_file,
        ";mediaenc=srtp-mand",
        30,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut caller = Baresip::tls_caller(
        dir.path(),
        &caller_ip,
        &caller_leaf,
        &ca_file,
        &format!("sip:callee@{ip}:5061"),
        ";mediaenc=srtp-mand",
        5,
    );
    caller.wait(Duration::from_secs(15));
    assert!(
        eventually(Duration::from_secs(5), || runner.history().len() == 1),
        "the call ends in history:\ncaller:\n{}\ncallee:\n{}\n{}",
        caller.text(),
        callee.text(),
        runner.log_text()
    );
    let record = runner.history().remove(0);
    assert_eq!(record["legs"][0]["transport"], "tls", "{record:#}");
    assert_eq!(record["legs"][1]["transport"], "tls", "{record:#}");
    let legs = record["media"]["streams"][0]["legs"]
        .as_array()
        .unwrap_or_else(|| panic!("anchored: {record:#}"))
        .clone();
    for leg in &legs {
        assert!(leg["suite"].is_string(), "SRTP on both legs: {record:#}");
        let received = leg["counters"]["packets_received"].as_u64().unwrap_or(0);
        let sent = leg["counters"]["packets_sent"].as_u64().unwrap_or(0);
        assert!(received >= 100 && sent >= 100, "media both ways: {leg:#}");
    }
    assert!(
        !runner.log_text().contains("inline:"),
        "no key in the runner's log"
    );
}
