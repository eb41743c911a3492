//! Offer TURN services for real: the running `twoleg` allocates RTP and RTCP relays on real
//! coturn servers (three on loopback, reference/turn.md §4) for calls from real SIPp through the
//! Lync route, and a SIPp Lync side logs the relay candidates it gets.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::coturn::Coturn;
use common::*;
use serde_json::Value;

/// A config on `ip` whose only route goes through the Lync B2BUA with Offer TURN services on,
/// to SIPp's Lync side on `ip:5070`, with these TURN servers (`(ip, password)`).
fn lync_config(ip: &str, servers: &[(&str, &str)], extra_lync: &str, health: &str) -> String {
    let servers: Vec<String> = servers
        .iter()
        .enumerate()
        .map(|(i, (address, password))| {
            format!(
                r#"{{ "address": "{address}", "port": 3478, "description": "coturn {i}",
                     "username": "alice", "password": "{password}" }}"#
            )
        })
        .collect();
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "to Lync", "destination": "{ip}:5070", "lync": true }} ],
  "lync_b2bua": {{ "enabled": true, "offer_turn_services": true,
                   "media_port_range": {{ "start": 56000, "end": 56999 }} {extra_lync} }},
  "turn_servers": [ {} ],
  "turn_health": {{ {health} }},
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
}}"#,
        servers.join(",\n")
    )
}

/// SIPp's Lync side on `ip:5070`, ending after `calls` calls (SIPp writes its log on exit).
fn lync_side(dir: &Path, ip: &str, calls: u32) -> Sipp {
    let calls = calls.to_string();
    uas_scenario(dir, ip, "uas_lync", &["-m", &calls, "-trace_logs"])
}

/// What the Lync side logged once it ended: Call-ID → (RTP relay, RTCP relay), empty strings
/// when the INVITE had no relay candidates.
fn lync_log(lync: &mut Sipp) -> BTreeMap<String, (String, String)> {
    assert_eq!(lync.wait(Duration::from_secs(30)), 0, "{}", lync.screen());
    let dir = lync.dir.clone();
    let mut calls = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if !entry.file_name().to_string_lossy().ends_with("_logs.log") {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["CALL", call_id, "RTP", rtp, "RTCP", rtcp] = words[..] {
                let clean = |a: &str| {
                    if a == ":" {
                        String::new()
                    } else {
                        a.to_owned()
                    }
                };
                calls.insert(call_id.to_owned(), (clean(rtp), clean(rtcp)));
            }
        }
    }
    calls
}

/// Places `count` calls of 500 ms from SIPp's caller and waits for them.
fn place_calls(dir: &Path, ip: &str, port: u16, count: u32) {
    let count = count.to_string();
    let mut caller = uac(dir, ip, port, &["-m", &count, "-r", "20", "-d", "500"]);
    let code = caller.wait(Duration::from_secs(60));
    assert_eq!(code, 0, "every call succeeds:\n{}", caller.screen());
}

fn turn_state(runner: &Runner) -> Value {
    let (status, body) = runner.get("/api/turn");
    assert_eq!(status, 200);
    serde_json::from_str(&body).unwrap()
}

fn str_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn sixty_lync_calls_get_relays_from_every_server_and_leave_no_allocation() {
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(71);
    let servers = [
        Coturn::start(dir.path(), "127.0.0.72", (49_400, 49_499)),
        Coturn::start(dir.path(), "127.0.0.73", (49_500, 49_599)),
        Coturn::start(dir.path(), "127.0.0.74", (49_600, 49_699)),
    ];
    let config = lync_config(
        &ip,
        &[
            ("127.0.0.72", "secret"),
            ("127.0.0.73", "secret"),
            ("127.0.0.74", "secret"),
        ],
        "",
        "",
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let lync_dir = dir.path().join("lync");
    std::fs::create_dir_all(&lync_dir).unwrap();
    let mut lync = lync_side(&lync_dir, &ip, 60);
    place_calls(dir.path(), &ip, 5080, 60);

    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 60));
    let seen = lync_log(&mut lync);
    assert_eq!(seen.len(), 60, "the Lync side got 60 INVITEs");
    let mut chosen = BTreeSet::new();
    for record in runner.history() {
        let turn = &record["turn"];
        assert_eq!(turn["decision"], "offered", "{record}");
        assert_eq!(turn["relay"]["state"], "allocated", "{record}");
        // The Lync B2BUA takes the media too, and the record says which B2BUA did.
        assert_eq!(
            record["media"]["component"], "Microsoft Lync B2BUA",
            "{record}"
        );
        let (rtp, rtcp) = (
            str_of(&turn["relay"]["rtp"]),
            str_of(&turn["relay"]["rtcp"]),
        );
        // The SDP the Lync side got carries exactly these relays.
        let b_call_id = str_of(&record["legs"][1]["call_id"]);
        assert_eq!(
            seen.get(&b_call_id),
            Some(&(rtp.clone(), rtcp.clone())),
            "{record}"
        );
        // Each relay address lies in exactly one server's range: the chosen one.
        let owners: Vec<usize> = (0..3).filter(|&i| servers[i].relays_to(&rtp)).collect();
        assert_eq!(owners.len(), 1, "{rtp}");
        assert!(servers[owners[0]].relays_to(&rtcp), "{rtcp}");
        assert_eq!(str_of(&turn["address"]), servers[owners[0]].address());
        chosen.insert(owners[0]);
    }
    assert_eq!(chosen.len(), 3, "random load balancing chose every server");

    // Every allocation was deleted: TwoLeg holds none, and coturn deleted each it granted.
    assert!(
        eventually(
            Duration::from_secs(10),
            || turn_state(&runner)["allocations_open"] == 0
        ),
        "{}",
        turn_state(&runner)
    );
    assert_eq!(turn_state(&runner)["allocations_granted"], 120);
    // The runner closed the media ports it bound for the relays.
    for record in runner.history() {
        let rtp: std::net::SocketAddr = str_of(&record["turn"]["media"]).parse().unwrap();
        let rtcp = std::net::SocketAddr::new(rtp.ip(), rtp.port() + 1);
        for port in [rtp, rtcp] {
            assert!(
                eventually(Duration::from_secs(5), || std::net::UdpSocket::bind(port)
                    .is_ok()),
                "{port} is still bound"
            );
        }
    }
    let mut granted = 0;
    for server in &servers {
        let allocated = server.count("incoming packet ALLOCATE processed, success");
        assert!(allocated > 0, "coturn {} logged no allocation", server.ip);
        assert!(
            eventually(Duration::from_secs(10), || server.count(": delete: realm")
                == allocated),
            "coturn {} still holds allocations:\n{}",
            server.ip,
            server.log_text()
        );
        assert_eq!(
            server.count("lifetime=0"),
            allocated,
            "a Refresh(0) for each"
        );
        granted += allocated;
    }
    assert_eq!(granted, 120, "an RTP and an RTCP relay per call");
    let (_, metrics) = runner.get("/metrics");
    assert!(
        metrics.contains("twoleg_turn_allocations_total 120"),
        "{metrics}"
    );
}

#[test]
fn a_wrong_password_is_recorded_with_401_and_failover_gets_relays_elsewhere() {
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(75);
    let _bad = Coturn::start(dir.path(), "127.0.0.76", (49_700, 49_749));
    let good = Coturn::start(dir.path(), "127.0.0.77", (49_750, 49_799));
    let servers = [("127.0.0.76", "not-the-password"), ("127.0.0.77", "secret")];

    for (round, failover) in [(0, false), (1, true)] {
        let config = lync_config(
            &ip,
            &servers,
            &format!(r#", "turn_failover": {failover}"#),
            "",
        );
        let run_dir = dir.path().join(format!("round{round}"));
        std::fs::create_dir_all(run_dir.join("lync")).unwrap();
        let mut runner = Runner::start(&ip, &config, &run_dir, &[]);
        let mut lync = lync_side(&run_dir.join("lync"), &ip, 20);
        place_calls(&run_dir, &ip, 5080, 20);
        assert!(eventually(Duration::from_secs(10), || runner
            .history()
            .len()
            == 20));
        let seen = lync_log(&mut lync);
        assert_eq!(seen.len(), 20, "the Lync side got every INVITE");
        let mut wrong = 0;
        for record in runner.history() {
            let turn = &record["turn"];
            let b_call_id = str_of(&record["legs"][1]["call_id"]);
            let (rtp, rtcp) = seen[&b_call_id].clone();
            if failover {
                assert_eq!(turn["relay"]["state"], "allocated", "{record}");
                assert!(
                    good.relays_to(&rtp),
                    "relays from the good server: {record}"
                );
                if let Some(first) = turn["failed_over"].get(0) {
                    assert_eq!(first["error"]["code"], 401, "{record}");
                    assert_eq!(str_of(&first["address"]), "127.0.0.76:3478");
                    wrong += 1;
                }
            } else if str_of(&turn["address"]) == "127.0.0.76:3478" {
                assert_eq!(turn["relay"]["state"], "failed", "{record}");
                assert_eq!(turn["relay"]["code"], 401, "{record}");
                assert_eq!(
                    (rtp.as_str(), rtcp.as_str()),
                    ("", ""),
                    "no relay candidates on a failed call: {record}"
                );
                wrong += 1;
            } else {
                assert!(good.relays_to(&rtp), "{record}");
            }
        }
        assert!(
            wrong > 0,
            "some calls chose the server with the wrong password"
        );
        assert!(
            eventually(
                Duration::from_secs(10),
                || turn_state(&runner)["allocations_open"] == 0
            ),
            "no allocation left: {}",
            turn_state(&runner)
        );
        runner.signal("-TERM");
        runner.wait(Duration::from_secs(10));
    }
}

#[test]
fn a_killed_server_is_marked_down_by_probes_and_no_longer_chosen() {
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(78);
    let mut servers = [
        Coturn::start(dir.path(), "127.0.0.79", (49_800, 49_849)),
        Coturn::start(dir.path(), "127.0.0.80", (49_850, 49_899)),
        Coturn::start(dir.path(), "127.0.0.81", (49_900, 49_949)),
    ];
    let config = lync_config(
        &ip,
        &[
            ("127.0.0.79", "secret"),
            ("127.0.0.80", "secret"),
            ("127.0.0.81", "secret"),
        ],
        "",
        r#""probe_interval_ms": 500, "failures_before_down": 3"#,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    std::fs::create_dir_all(dir.path().join("lync")).unwrap();
    let _lync = lync_side(&dir.path().join("lync"), &ip, 70);
    place_calls(dir.path(), &ip, 5080, 20);
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 20));
    // The probes reach every server and are answered: 3 servers, every 500 ms.
    assert!(
        eventually(Duration::from_secs(5), || {
            let state = turn_state(&runner);
            state["probes_answered"].as_u64().unwrap_or(0) >= 12
                && state["servers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["health"] == "up")
        }),
        "{}",
        turn_state(&runner)
    );

    // Calls keep going while a server dies: those in flight on it keep their relays (or, chosen
    // before it is marked down, wait for the allocation and go on without), none fails.
    let mut during = uac(
        dir.path(),
        &ip,
        5081,
        &["-m", "30", "-r", "10", "-d", "500"],
    );
    std::thread::sleep(Duration::from_millis(1_000));
    servers[2].kill();
    let killed_at = std::time::Instant::now();
    let mut marked_down = None;
    assert!(
        eventually(Duration::from_secs(6), || {
            let down = turn_state(&runner)["servers"][2]["health"] == "down";
            if down {
                marked_down = Some(killed_at.elapsed());
            }
            down
        }),
        "{}",
        turn_state(&runner)
    );
    // The configured time: three missed probes at 500 ms, so within (3 + 1) x 500 ms of the
    // kill, plus scheduling slack on a loaded machine.
    let took = marked_down.unwrap();
    assert!(
        took <= Duration::from_millis(3_000),
        "marked down after {took:?}"
    );
    assert_eq!(
        during.wait(Duration::from_secs(60)),
        0,
        "{}",
        during.screen()
    );
    let (_, metrics) = runner.get("/metrics");
    assert!(
        metrics.contains("twoleg_turn_server_up{address=\"127.0.0.81:3478\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("twoleg_turn_server_up{address=\"127.0.0.79:3478\"} 1"),
        "{metrics}"
    );

    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 50));
    let before: BTreeSet<String> = runner.history().iter().map(|r| str_of(&r["tag"])).collect();
    place_calls(dir.path(), &ip, 5082, 20);
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 70));
    for record in runner.history() {
        if before.contains(&str_of(&record["tag"])) {
            continue;
        }
        assert_ne!(
            str_of(&record["turn"]["address"]),
            "127.0.0.81:3478",
            "{record}"
        );
        assert_eq!(record["turn"]["relay"]["state"], "allocated", "{record}");
    }
}

#[test]
fn a_300_try_alternate_is_followed_and_recorded() {
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(87);
    let alternate = Coturn::start(dir.path(), "127.0.0.89", (48_900, 48_949));
    let _front = Coturn::start_with(
        dir.path(),
        "127.0.0.88",
        (48_950, 48_999),
        &["--alternate-server", "127.0.0.89:3478"],
    );
    let config = lync_config(&ip, &[("127.0.0.88", "secret")], "", "");
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    std::fs::create_dir_all(dir.path().join("lync")).unwrap();
    let mut lync = lync_side(&dir.path().join("lync"), &ip, 5);
    place_calls(dir.path(), &ip, 5080, 5);
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 5));
    let seen = lync_log(&mut lync);
    for record in runner.history() {
        let turn = &record["turn"];
        assert_eq!(str_of(&turn["address"]), "127.0.0.88:3478", "{record}");
        assert_eq!(
            str_of(&turn["redirected_to"]),
            "127.0.0.89:3478",
            "{record}"
        );
        let (rtp, rtcp) = seen[&str_of(&record["legs"][1]["call_id"])].clone();
        assert!(
            alternate.relays_to(&rtp) && alternate.relays_to(&rtcp),
            "{record}"
        );
    }
    assert!(
        eventually(
            Duration::from_secs(10),
            || turn_state(&runner)["allocations_open"] == 0
        ),
        "the allocations on the alternate server were deleted too"
    );
    assert_eq!(
        alternate.count("ALLOCATE processed, success"),
        10,
        "two relays per call"
    );
    assert!(eventually(Duration::from_secs(10), || {
        alternate.count(": delete: realm") == 10
    }));
}

#[test]
fn a_call_from_lync_gets_relays_in_the_answer_toward_lync() {
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(90);
    let server = Coturn::start(dir.path(), "127.0.0.91", (48_800, 48_849));
    // Lync's front end is SIPp's caller on ip:5080; the route is an ordinary one to SIPp's callee.
    let config = lync_config(
        &ip,
        &[("127.0.0.91", "secret")],
        &format!(r#", "signalling_destination": "{ip}:5080""#),
        "",
    )
    .replace(r#""lync": true"#, r#""lync": false"#);
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _callee = uas(dir.path(), &ip);
    let lync_dir = dir.path().join("lync");
    std::fs::create_dir_all(&lync_dir).unwrap();
    let mut lync = uac_scenario(&lync_dir, &ip, "uac_lync", 10, &["-trace_logs"]);
    let seen = lync_log(&mut lync);
    assert_eq!(seen.len(), 10, "every call answered");
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 10));
    for record in runner.history() {
        let turn = &record["turn"];
        assert_eq!(turn["leg"], "a", "{record}");
        assert_eq!(turn["relay"]["state"], "allocated", "{record}");
        let (rtp, rtcp) = seen[&str_of(&record["legs"][0]["call_id"])].clone();
        assert_eq!(rtp, str_of(&turn["relay"]["rtp"]), "{record}");
        assert!(
            server.relays_to(&rtp) && server.relays_to(&rtcp),
            "{record}"
        );
    }
    assert!(eventually(Duration::from_secs(10), || turn_state(&runner)
        ["allocations_open"]
        == 0));
}
