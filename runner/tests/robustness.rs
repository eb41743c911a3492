//! The runner keeps serving through a storm of malformed datagrams and through a trapped engine
//! instance, and shuts down gracefully.

mod common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// The RFC 4475 messages with the top Via pointed at `socket` (with rport), so that every answer
/// comes back to the test and nothing leaves loopback.
fn corpus_aimed_at(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rfc4475");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("the RFC 4475 corpus");
    let me = socket.local_addr().unwrap();
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let bytes = std::fs::read(dir.join(line.split('\t').next().unwrap())).unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut out = String::new();
            let mut replaced = false;
            for line in text.split_inclusive("\r\n") {
                let lower = line.to_ascii_lowercase();
                if !replaced && (lower.starts_with("via:") || lower.starts_with("v:")) {
                    out.push_str(&format!(
                        "Via: SIP/2.0/UDP {me};branch=z9hG4bKstorm{};rport\r\n",
                        out.len()
                    ));
                    replaced = true;
                } else {
                    out.push_str(line);
                }
            }
            out.into_bytes()
        })
        .collect()
}

fn options(ip: &str, me: std::net::SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:twoleg@{ip}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKopt{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{ip}>;tag=p{n}\r\nTo: <sip:twoleg@{ip}>\r\n\
         Call-ID: probe{n}@{ip}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_malformed_datagram_storm_leaves_the_runner_answering() {
    require_sipp();
    let ip = ip(41);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let socket = UdpSocket::bind(format!("{ip}:5090")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let storm = corpus_aimed_at(&socket);
    let target = format!("{ip}:5060");
    for _ in 0..20 {
        for datagram in &storm {
            socket.send_to(datagram, &target).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Drain what came back, then ask OPTIONS.
    let mut buffer = [0_u8; 65_535];
    while socket.recv_from(&mut buffer).is_ok() {}
    socket
        .send_to(
            options(&ip, socket.local_addr().unwrap(), 1).as_bytes(),
            &target,
        )
        .unwrap();
    let answered = (0..20).any(|_| {
        socket.recv_from(&mut buffer).is_ok_and(|(n, _)| {
            String::from_utf8_lossy(&buffer[..n]).starts_with("SIP/2.0 200 OK")
                && String::from_utf8_lossy(&buffer[..n]).contains("probe1@")
        })
    });
    assert!(
        answered,
        "OPTIONS answered after the storm:\n{}",
        runner.log_text()
    );

    let _uas = uas(dir.path(), &ip);
    let mut caller = uac(
        dir.path(),
        &ip,
        5080,
        &["-m", "20", "-r", "20", "-d", "100"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "calls complete after the storm"
    );
    let (_, metrics) = runner.get("/metrics");
    let parse_errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("twoleg_parse_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        parse_errors >= 20 * 15,
        "every malformed datagram is counted: {parse_errors}"
    );
    assert!(metrics.contains("twoleg_guest_traps_total 0"));
}

#[test]
fn a_trapped_engine_closes_its_calls_and_a_fresh_one_serves() {
    require_sipp();
    let ip = ip(51);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &["--fault-injection"]);
    let _uas = uas(dir.path(), &ip);
    let _long = uac(dir.path(), &ip, 5080, &["-m", "1", "-d", "30000"]);
    assert!(eventually(Duration::from_secs(10), || runner.calls().len() == 1));
    let tag = runner.calls()[0]["tag"].as_str().unwrap().to_owned();

    assert_eq!(runner.request("POST", "/api/fault").0, 204);
    let record = runner
        .history()
        .into_iter()
        .find(|r| r["tag"] == tag.as_str())
        .expect("the call is in history");
    assert_eq!(record["reason"], "engine fault");
    assert_eq!(record["outcome"], "failed");
    assert!(
        runner.log_text().contains("fuel"),
        "the trap's cause is logged:\n{}",
        runner.log_text()
    );
    assert!(runner.calls().is_empty());
    let (_, metrics) = runner.get("/metrics");
    assert!(metrics.contains("twoleg_guest_traps_total 1"), "{metrics}");

    let mut caller = uac(
        dir.path(),
        &ip,
        5081,
        &["-m", "10", "-r", "10", "-d", "100"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "the fresh instance completes calls:\n{}",
        runner.log_text()
    );
}

#[test]
fn sigterm_ends_live_calls_with_bye_and_exits_zero() {
    require_sipp();
    let ip = ip(61);
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas(dir.path(), &ip);
    let mut caller = uac(dir.path(), &ip, 5080, &["-m", "1", "-d", "30000"]);
    assert!(eventually(Duration::from_secs(10), || runner
        .calls()
        .first()
        .is_some_and(|c| c["legs"][1]["state"] == "confirmed")));
    runner.signal("-TERM");
    let status = runner.wait(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        runner.log_text()
    );
    // The caller saw the B2BUA's BYE (an unexpected message for SIPp's uac, so its call fails).
    assert_ne!(caller.wait(Duration::from_secs(40)), 0);
    let history = std::fs::read_to_string(dir.path().join("data/history.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(
        history
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["outcome"], "disconnected");
    assert!(runner.log_text().contains("shutting down"));
}
