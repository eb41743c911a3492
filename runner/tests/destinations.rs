//! A route over two real SIPp callees: both take calls, one is killed (its calls fail over to
//! the other and none fails; pings mark it down), it comes back (a ping marks it up) and
//! takes calls again; a destination with nothing listening is left on the ICMP error, but not on a forged one.

mod common;

use std::time::Duration;

use common::*;

fn pool_config(ip: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{
    "name": "pool",
    "destinations": [
      {{ "address": "{ip}:5070", "priority": 1, "weight": 1 }},
      {{ "address": "{ip}:5071", "priority": 1, "weight": 1 }}
    ],
    "failover_after_ms": 500,
    "ping_interval_s": 1,
    "ping_failures_before_down": 2
  }} ],
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
}}"#
    )
}

/// Each destination's health, as `/api/routes` shows it.
fn health(runner: &Runner) -> Vec<(String, String)> {
    let (status, body) = runner.get("/api/routes");
    assert_eq!(status, 200, "{body}");
    let routes: serde_json::Value = serde_json::from_str(&body).unwrap();
    routes[0]["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["address"].as_str().unwrap().to_owned(),
                d["health"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Of the newest `count` records, how many calls leg B took to each port.
fn peers(runner: &Runner, count: usize) -> (usize, usize, Vec<serde_json::Value>) {
    let history = runner.history();
    let mut records = history[..count.min(history.len())].to_vec();
    records.retain(|r| r["final_status"] == 200);
    let to = |port: u16| {
        records
            .iter()
            .filter(|r| {
                r["legs"][1]["peer"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(":{port}"))
            })
            .count()
    };
    (to(5070), to(5071), records)
}

#[test]
fn a_killed_callee_is_failed_over_and_skipped_and_takes_calls_again_when_it_comes_back() {
    require_sipp();
    let ip = ip(41);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &pool_config(&ip), dir.path(), &[]);
    let _first = callee(dir.path(), &ip, 5070);
    let second = callee(dir.path(), &ip, 5071);
    let up = |runner: &Runner, second: &str| {
        health(runner)
            == vec![
                (format!("{ip}:5070"), "up".to_owned()),
                (format!("{ip}:5071"), second.to_owned()),
            ]
    };
    assert!(eventually(Duration::from_secs(10), || up(&runner, "up")));

    // Both take calls.
    calls_complete(&runner, dir.path(), &ip, "both", 60, 20, 60);
    let (first, second_calls, _) = peers(&runner, 60);
    assert_eq!(first + second_calls, 60);
    assert!(first >= 10 && second_calls >= 10, "{first}:{second_calls}");

    // The second is killed: calls go on with no failure. Until it is marked down, the calls
    // sent to it fail over to the first (on the ICMP error, or after 500 ms).
    drop(second);
    calls_complete(&runner, dir.path(), &ip, "one-killed", 100, 20, 160);
    let (first, second_calls, records) = peers(&runner, 100);
    assert_eq!((first, second_calls), (100, 0));
    let failed_over: Vec<_> = records
        .iter()
        .filter(|r| r["attempts"].as_array().is_some_and(|a| a.len() == 2))
        .collect();
    assert!(
        !failed_over.is_empty(),
        "some calls went to the killed callee before it was marked down"
    );
    for record in &failed_over {
        assert_eq!(record["attempts"][0]["address"], format!("{ip}:5071"));
        // On loopback the ICMP port unreachable usually comes first.
        let why = record["attempts"][0]["failed"].as_str().unwrap_or_default();
        assert!(
            why == "transport error" || why == "no answer in 500 ms",
            "{record:#}"
        );
    }
    assert!(up(&runner, "down"), "{:?}", health(&runner));
    let (_, metrics) = runner.get("/metrics");
    assert!(
        metrics.contains(&format!(
            "twoleg_destination_up{{route=\"pool\",destination=\"{ip}:5071\"}} 0"
        )),
        "{metrics}"
    );

    // It comes back: a ping marks it up and it takes calls again.
    let _second = callee(dir.path(), &ip, 5071);
    assert!(
        eventually(Duration::from_secs(10), || up(&runner, "up")),
        "{:?}",
        health(&runner)
    );
    calls_complete(&runner, dir.path(), &ip, "back", 60, 20, 220);
    let (first, second_calls, _) = peers(&runner, 60);
    assert!(second_calls >= 10, "{first}:{second_calls}");
}

#[test]
fn a_destination_with_no_listener_fails_over_on_the_icmp_error_not_after_timer_b() {
    require_sipp();
    let ip = ip(42);
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on 5070; no failover timer, no pings: only the ICMP port unreachable
    // can move a call on before Timer B (32 s).
    let config = format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{
    "name": "pool",
    "destinations": [
      {{ "address": "{ip}:5070", "priority": 1 }},
      {{ "address": "{ip}:5071", "priority": 2 }}
    ]
  }} ],
  "admin": {{ "listen": "{ip}:8080" }}
}}"#
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _second = callee(dir.path(), &ip, 5071);
    calls_complete(&runner, dir.path(), &ip, "calls", 5, 20, 5);
    for record in runner.history() {
        assert_eq!(record["attempts"][0]["address"], format!("{ip}:5070"));
        assert_eq!(
            record["attempts"][0]["failed"], "transport error",
            "{record:#}"
        );
        assert_eq!(record["legs"][1]["peer"], format!("{ip}:5071"));
    }
}

#[test]
fn a_lync_route_that_points_at_twoleg_itself_gets_482_with_one_record_and_one_calls_relays() {
    use common::coturn::Coturn;
    require_sipp();
    let ip = ip(47);
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path(), "127.0.0.48", (49_800, 49_899));
    // The route's destination is TwoLeg's own listener.
    let config = format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "loop", "destination": "{ip}:5060", "lync": true }} ],
  "lync_b2bua": {{ "enabled": true, "offer_turn_services": true,
                   "media_port_range": {{ "start": 56000, "end": 56999 }} }},
  "turn_servers": [ {{ "address": "127.0.0.48", "port": 3478, "description": "coturn",
                      "username": "alice", "password": "secret" }} ],
  "admin": {{ "listen": "{ip}:8080" }}
}}"#
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let mut caller = uac_scenario(dir.path(), &ip, "uac_loop", 3, &[]);
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(caller.counts(), (3, 0), "every call got 482");
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 3),
        "{}",
        runner.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        runner.history().len(),
        3,
        "one record per call, none for the loop"
    );
    for record in runner.history() {
        assert_eq!(record["final_status"], 482, "{record:#}");
    }
    // Each call's Lync leg allocated its RTP and RTCP relays once; the INVITE that came back
    // allocated nothing.
    assert_eq!(
        coturn.count("incoming packet ALLOCATE processed, success"),
        6,
        "{}",
        coturn.log_text()
    );
}

#[test]
fn past_its_queue_bound_the_runner_answers_new_invites_503_at_the_door() {
    require_sipp();
    let ip = ip(49);
    let dir = tempfile::tempdir().unwrap();
    // A bound of 0: every new INVITE is shed (the real bound is 6,144 waiting datagrams).
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &["--shed-queue-depth", "0"]);
    let _callee = uas(dir.path(), &ip);
    let mut caller = uac_scenario(dir.path(), &ip, "uac_shed", 20, &[]);
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(
        caller.counts(),
        (20, 0),
        "every INVITE got 503 with Retry-After"
    );
    let (_, metrics) = runner.get("/metrics");
    assert!(metrics.contains("twoleg_calls_shed_total 20"), "{metrics}");
    assert!(metrics.contains("twoleg_input_queue_depth "), "{metrics}");
    assert!(runner.history().is_empty(), "the engine never saw them");
    assert!(runner.calls().is_empty());
}

/// An ICMP port unreachable, as the kernel of `peer` would send it to `listener` about a UDP
/// datagram from `listener` to `peer` that began with `quoted`.
fn port_unreachable(
    listener: std::net::SocketAddrV4,
    peer: std::net::SocketAddrV4,
    quoted: &[u8],
) -> Vec<u8> {
    fn checksum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
    let udp_length = (8 + quoted.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(20 + udp_length).to_be_bytes());
    ip.extend_from_slice(&listener.ip().octets());
    ip.extend_from_slice(&peer.ip().octets());
    let ip_sum = checksum(&ip);
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&ip);
    icmp.extend_from_slice(&listener.port().to_be_bytes());
    icmp.extend_from_slice(&peer.port().to_be_bytes());
    icmp.extend_from_slice(&udp_length.to_be_bytes());
    icmp.extend_from_slice(&[0, 0]);
    icmp.extend_from_slice(quoted);
    let icmp_sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&icmp_sum.to_be_bytes());
    icmp
}

/// Sends `icmp` from a raw socket (the test runs as root, as CI does) to `to`.
fn send_icmp(to: std::net::Ipv4Addr, icmp: &[u8]) {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, sendto, socket,
    };
    use std::os::fd::AsRawFd;
    let raw = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::empty(),
        SockProtocol::Icmp,
    )
    .expect("a raw ICMP socket: the runner tests need root (CAP_NET_RAW)");
    let address = SockaddrIn::from(std::net::SocketAddrV4::new(to, 0));
    sendto(raw.as_raw_fd(), icmp, &address, MsgFlags::empty()).unwrap();
}

#[test]
fn a_forged_icmp_error_does_not_fail_a_call_and_one_quoting_the_invite_does() {
    let ip = ip(52);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "callee", "destination": "{ip}:5070" }} ],
  "admin": {{ "listen": "{ip}:8080" }}
}}"#
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    // The callee takes the INVITE and never answers: only an ICMP error ends the call early.
    let callee = udp_socket(&format!("{ip}:5070"), Duration::from_secs(5));
    let caller = udp_socket(&format!("{ip}:0"), Duration::from_millis(200));
    let target = format!("{ip}:5060");
    caller
        .send_to(
            invite_text(&caller, &target, "icmp1", "").as_bytes(),
            &target,
        )
        .unwrap();
    let forwarded = next_datagram(&callee, "the INVITE at the callee");
    assert!(eventually(Duration::from_secs(5), || runner.calls().len() == 1));

    let listener: std::net::SocketAddrV4 = target.parse().unwrap();
    let peer: std::net::SocketAddrV4 = format!("{ip}:5070").parse().unwrap();
    // Forged: what an attacker off the path can write (TwoLeg's request line and Via, but not
    // its random branch), and a quote too short to hold a branch.
    let text = String::from_utf8_lossy(&forwarded).into_owned();
    let branch_at = text.find("branch=z9hG4bK").unwrap() + "branch=z9hG4bK".len();
    let mut guessed = forwarded.clone();
    guessed[branch_at..branch_at + 8].copy_from_slice(b"guessed0");
    send_icmp(*listener.ip(), &port_unreachable(listener, peer, &guessed));
    send_icmp(
        *listener.ip(),
        &port_unreachable(listener, peer, &forwarded[..8]),
    );
    let ignored = "twoleg_icmp_errors_ignored_total 2";
    assert!(
        eventually(Duration::from_secs(5), || runner
            .get("/metrics")
            .1
            .contains(ignored)),
        "{}",
        runner.get("/metrics").1
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runner.calls().len(), 1, "the forged errors failed the call");
    assert!(runner.history().is_empty());

    // Quoting the INVITE as sent (as the callee's kernel would): the call fails at once.
    send_icmp(
        *listener.ip(),
        &port_unreachable(listener, peer, &forwarded),
    );
    assert!(
        eventually(Duration::from_secs(5), || runner.history().len() == 1),
        "{}",
        runner.log_text()
    );
    let record = &runner.history()[0];
    assert_eq!(
        (&record["final_status"], &record["reason"]),
        (
            &serde_json::json!(503),
            &serde_json::json!("the callee cannot be reached (transport error)")
        ),
        "{record:#}"
    );
}
