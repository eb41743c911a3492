//! Who may call, through the real runner: SIPp authenticating with digest (its
//! `[authentication]`; SIPp 3.6 speaks MD5 only, and takes the first challenge, so TwoLeg offers
//! MD5 alone here) against a zone that checks credentials, with the right password
//! and a wrong one; a captured authenticated INVITE sent again (new Call-ID and branch) over a
//! plain UDP socket, refused as a replay; SIPp from 127.0.0.66, outside every zone, refused
//! with 403; a flood of 5,000 INVITEs per second from one address while SIPp places 100 calls
//! per second from another, every one of which completes.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use md5::{Digest, Md5};

/// A config on `ip`: calls from `callers` checked against alice/wonderland (MD5, which SIPp
/// speaks), everything else refused; calls for `service` go to the callee on `ip:5070`.
fn access_config(ip: &str, callers: &str, extra: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "callee", "match": {{ "user": {{ "exact": "service" }} }},
                "destination": "{ip}:5070" }} ],
  "zones": [ {{ "name": "callers", "peers": [{callers}],
               "authentication_policy": "check_credentials" }} ],
  "default_zone": {{ "calls": "refuse" }},
  "authentication": {{ "realm": "twoleg.test", "algorithms": ["MD5"],
                       "credentials": [ {{ "username": "alice", "password": "wonderland" }} ] }},
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
  {extra}
}}"#
    )
}

fn metric(runner: &Runner, line_start: &str) -> u64 {
    let (_, metrics) = runner.get("/metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(line_start)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// SIPp playing scenario `name` from `from_ip` toward the runner on `target_ip`, in a
/// directory of its own.
fn sipp_caller(
    dir: &Path,
    target_ip: &str,
    from_ip: &str,
    name: &str,
    calls: u32,
    extra: &[&str],
) -> Sipp {
    let dir = dir.join(format!("{name}-{from_ip}-{}", extra.join("_")));
    std::fs::create_dir_all(&dir).unwrap();
    uac_scenario_from(&dir, target_ip, from_ip, name, calls, extra)
}

#[test]
fn sipp_with_the_right_credentials_completes_and_a_wrong_password_gets_407_again() {
    require_sipp();
    let ip = ip(170);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &access_config(&ip, &format!("\"{ip}\""), ""),
        dir.path(),
        &[],
    );
    let _callee = uas(dir.path(), &ip);
    // SIPp's digest URI is its target's address unless told: the Request-URI, which TwoLeg
    // checks it against (RFC 7616 §3.4.6).
    let auth_uri = format!("service@{ip}:5060");

    let mut right = sipp_caller(
        dir.path(),
        &ip,
        &ip,
        "uac_auth",
        10,
        &["-au", "alice", "-ap", "wonderland", "-auth_uri", &auth_uri],
    );
    let code = right.wait(Duration::from_secs(90));
    assert_eq!(
        (code, right.counts()),
        (0, (10, 0)),
        "{}\n{}",
        right.screen(),
        runner.log_text()
    );
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 10));
    // Each record says who the caller authenticated as, and its zone.
    for record in runner.history() {
        assert_eq!(
            record["admission"],
            serde_json::json!({
                "zone": "callers",
                "authentication": { "checked": { "username": "alice" } },
            }),
            "{record}"
        );
    }

    let mut wrong = sipp_caller(
        dir.path(),
        &ip,
        &ip,
        "uac_auth_refused",
        10,
        &[
            "-au",
            "alice",
            "-ap",
            "looking-glass",
            "-auth_uri",
            &auth_uri,
        ],
    );
    let code = wrong.wait(Duration::from_secs(90));
    assert_eq!(
        (code, wrong.counts()),
        (0, (10, 0)),
        "{}\n{}",
        wrong.screen(),
        runner.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runner.history().len(), 10, "no leg B for a wrong password");
    // 10 first rounds of each batch, and 10 wrong passwords.
    assert_eq!(
        metric(
            &runner,
            "twoleg_access_refused_total{reason=\"unauthenticated\"}"
        ),
        30
    );
    // The refusals list says why each was refused: 20 without credentials, 10 wrong.
    let (_, body) = runner.get("/api/refusals");
    let refusals: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let count = |reason: Option<&str>| -> u64 {
        refusals
            .iter()
            .filter(|r| reason.is_none_or(|reason| r["status"] == 407 && r["reason"] == reason))
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (
            count(Some("not authenticated: no credentials")),
            count(Some("not authenticated: wrong password")),
            count(None)
        ),
        (20, 10, 30),
        "{body}"
    );
    assert!(!body.contains("wonderland") && !body.contains("looking-glass"));
    assert!(
        !runner.log_text().contains("wonderland"),
        "no password in the log"
    );
    assert!(!runner.log_text().contains("looking-glass"));
}

fn hex_md5(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_captured_authenticated_invite_sent_again_is_refused_as_a_replay() {
    let ip = ip(173);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &access_config(&ip, &format!("\"{ip}\""), ""),
        dir.path(),
        &[],
    );
    let target = format!("{ip}:5060");
    let socket = udp_socket(&format!("{ip}:0"), Duration::from_millis(200));
    let challenge = final_response(&socket, &target, &invite_text(&socket, &target, "rp1", ""));
    assert!(challenge.starts_with("SIP/2.0 407"), "{challenge}");
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let uri = format!("sip:service@{target}");
    let ha1 = hex_md5("alice:twoleg.test:wonderland");
    let ha2 = hex_md5(&format!("INVITE:{uri}"));
    let response = hex_md5(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    let credentials = format!(
        "Proxy-Authorization: Digest username=\"alice\", realm=\"twoleg.test\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc=00000001\r\n"
    );
    // Accepted: the call goes on to the route, where a socket takes the INVITE and never
    // answers, so the call stays live (with no socket there, the ICMP error would end it at
    // once). Then the same credentials in a new INVITE: 407, a replay.
    let silent_callee = udp_socket(&format!("{ip}:5070"), Duration::from_secs(5));
    let socket2 = udp_socket(&format!("{ip}:0"), Duration::from_millis(200));
    socket
        .send_to(
            invite_text(&socket, &target, "rp2", &credentials).as_bytes(),
            &target,
        )
        .unwrap();
    let forwarded = next_datagram(&silent_callee, "the authenticated INVITE at the callee");
    let forwarded = String::from_utf8_lossy(&forwarded).into_owned();
    assert!(forwarded.starts_with("INVITE "), "{forwarded}");
    assert!(
        !forwarded.contains("Proxy-Authorization"),
        "credentials are not relayed: {forwarded}"
    );
    assert!(
        eventually(Duration::from_secs(5), || runner.calls().len() == 1),
        "{}",
        runner.log_text()
    );
    let replayed = final_response(
        &socket2,
        &target,
        &invite_text(&socket2, &target, "rp3", &credentials),
    );
    assert!(replayed.starts_with("SIP/2.0 407"), "{replayed}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        runner.calls().len() + runner.history().len(),
        1,
        "no second call"
    );
    assert!(
        runner.log_text().contains("replayed"),
        "{}",
        runner.log_text()
    );
}

#[test]
fn sipp_from_outside_every_zone_gets_403_and_leaves_nothing() {
    require_sipp();
    let ip = ip(174);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &access_config(&ip, &format!("\"{ip}\""), ""),
        dir.path(),
        &[],
    );
    let _callee = uas(dir.path(), &ip);
    let mut stranger = sipp_caller(dir.path(), &ip, "127.0.0.66", "uac_forbidden", 5, &[]);
    let code = stranger.wait(Duration::from_secs(60));
    assert_eq!(
        (code, stranger.counts()),
        (0, (5, 0)),
        "{}",
        stranger.screen()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(runner.history().is_empty(), "no call record");
    assert!(runner.calls().is_empty());
    assert_eq!(
        metric(&runner, "twoleg_access_refused_total{reason=\"forbidden\"}"),
        5
    );
    let (_, body) = runner.get("/api/refusals");
    let refusals: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let refused: u64 = refusals.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(refused, 5, "{body}");
    for refusal in &refusals {
        assert!(
            refusal["source"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.66:")
                && refusal["status"] == 403
                && refusal["reason"] == "the zone refuses calls",
            "{body}"
        );
    }
}

#[test]
fn a_flood_from_one_address_is_refused_while_100_calls_per_second_from_another_complete() {
    require_sipp();
    let (ip, flooder_ip) = (ip(171), ip(172));
    let dir = tempfile::tempdir().unwrap();
    // The callers' zone does not check credentials here: the built-in SIPp caller.
    let config = access_config(
        &ip,
        &format!("\"{ip}\", \"{flooder_ip}\""),
        r#", "flood_protection": { "max_requests_per_second": 1000, "block_s": 30, "action": "drop" }"#,
    )
    .replace("\"check_credentials\"", "\"do_not_check_credentials\"");
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _callee = uas(dir.path(), &ip);

    // 5,000 INVITEs a second for four seconds, each new (for a user no route takes).
    let target = format!("{ip}:5060");
    let from = flooder_ip.clone();
    let flood = std::thread::spawn(move || {
        let socket = UdpSocket::bind(format!("{from}:0")).unwrap();
        let start = Instant::now();
        let mut sent = 0u32;
        while start.elapsed() < Duration::from_secs(4) {
            let due = (start.elapsed().as_millis() as u32) * 5;
            while sent < due {
                let text = invite_text(&socket, &target, &format!("fl{sent}"), "")
                    .replace("sip:service@", "sip:flood@");
                let _ = socket.send_to(text.as_bytes(), &target);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(300));
    let dir_calls = dir.path().join("calls");
    std::fs::create_dir_all(&dir_calls).unwrap();
    let mut caller = uac(
        &dir_calls,
        &ip,
        5080,
        &[
            "-m",
            "300",
            "-r",
            "100",
            "-d",
            "500",
            "-timeout",
            "60",
            "-timeout_error",
        ],
    );
    let code = caller.wait(Duration::from_secs(90));
    let flooded = flood.join().unwrap();
    assert!(flooded >= 15_000, "{flooded}");
    assert_eq!(
        (code, caller.counts()),
        (0, (300, 0)),
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert!(eventually(Duration::from_secs(20), || runner
        .history()
        .len()
        == 300));
    let (_, sources) = runner.get("/api/sources");
    let sources: Vec<serde_json::Value> = serde_json::from_str(&sources).unwrap();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0]["address"], serde_json::json!(flooder_ip));
    assert!(sources[0]["blocked"].as_bool().unwrap());
    let refused = sources[0]["requests_refused"].as_u64().unwrap();
    assert!(
        refused >= u64::from(flooded) - 2_000,
        "{refused} of {flooded}"
    );
    assert!(metric(&runner, "twoleg_access_refused_total{reason=\"flooding\"}") >= refused);
}
