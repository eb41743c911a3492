//! Destinations as host names against a real DNS server (dnsmasq on loopback) and real SIPp
//! callees: NAPTR and SRV priority order with failover when the first target is dead, SRV
//! weights over 1,000 calls, and a changed A record picked up once its TTL runs out.

mod common;

use std::time::Duration;

use common::dnsmasq::Dnsmasq;
use common::*;

fn config(ip: &str, destination: &str, dns: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "pool", "destination": "{destination}" }} ],
  "dns": {{ "servers": [ "{dns}" ] }},
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 2000 }}
}}"#
    )
}

/// NAPTR `pool.test` → `_sip._udp.pool.test`; its SRV targets a (port 5070) and b (5071)
/// with these (priority, weight), both on `ip`.
fn pool_records(ip: &str, a: (u16, u16), b: (u16, u16)) -> Vec<String> {
    vec![
        "--naptr-record=pool.test,10,10,s,SIP+D2U,,_sip._udp.pool.test".to_owned(),
        format!(
            "--srv-host=_sip._udp.pool.test,a.pool.test,5070,{},{}",
            a.0, a.1
        ),
        format!(
            "--srv-host=_sip._udp.pool.test,b.pool.test,5071,{},{}",
            b.0, b.1
        ),
        format!("--host-record=a.pool.test,{ip}"),
        format!("--host-record=b.pool.test,{ip}"),
    ]
}

/// Of the newest `count` records, the peers of leg B.
fn peers(runner: &Runner, count: usize) -> Vec<String> {
    runner.history()[..count]
        .iter()
        .map(|r| r["legs"][1]["peer"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn srv_targets_are_called_in_priority_order_and_a_dead_first_target_is_failed_over() {
    require_sipp();
    let ip = ip(43);
    let dir = tempfile::tempdir().unwrap();
    let dns = Dnsmasq::start(dir.path(), &ip, &pool_records(&ip, (10, 1), (20, 1)), "");
    let runner = Runner::start(
        &ip,
        &config(&ip, "pool.test", &dns.address),
        dir.path(),
        &[],
    );
    let first = callee(dir.path(), &ip, 5070);
    let _second = callee(dir.path(), &ip, 5071);
    calls_complete(&runner, dir.path(), &ip, "up", 20, 20, 20);
    assert!(
        peers(&runner, 20)
            .iter()
            .all(|p| *p == format!("{ip}:5070")),
        "priority 10 takes every call"
    );
    let log = dns.log_text();
    for asked in [
        "query[NAPTR] pool.test",
        "query[SRV] _sip._udp.pool.test",
        "query[A] a.pool.test",
    ] {
        assert!(log.contains(asked), "{asked}:\n{log}");
    }

    // The first target dies: every call goes on to the second.
    drop(first);
    calls_complete(&runner, dir.path(), &ip, "first-dead", 20, 20, 40);
    for record in &runner.history()[..20] {
        assert_eq!(
            record["legs"][1]["peer"],
            format!("{ip}:5071"),
            "{record:#}"
        );
        assert_eq!(record["attempts"][0]["address"], format!("{ip}:5070"));
        assert_eq!(record["attempts"][0]["failed"], "transport error");
    }
}

#[test]
fn srv_weights_share_1000_calls() {
    require_sipp();
    let ip = ip(44);
    let dir = tempfile::tempdir().unwrap();
    let dns = Dnsmasq::start(dir.path(), &ip, &pool_records(&ip, (10, 1), (10, 3)), "");
    let runner = Runner::start(
        &ip,
        &config(&ip, "pool.test", &dns.address),
        dir.path(),
        &[],
    );
    let _a = callee(dir.path(), &ip, 5070);
    let _b = callee(dir.path(), &ip, 5071);
    calls_complete(&runner, dir.path(), &ip, "calls", 1_000, 200, 1_000);
    let peers = peers(&runner, 1_000);
    let to_a = peers.iter().filter(|p| **p == format!("{ip}:5070")).count() as f64;
    let to_b = peers.iter().filter(|p| **p == format!("{ip}:5071")).count() as f64;
    assert_eq!(to_a + to_b, 1_000.0);
    // Chi-square against 250:750, one degree of freedom: 10.83 is p = 0.001.
    let statistic = (to_a - 250.0).powi(2) / 250.0 + (to_b - 750.0).powi(2) / 750.0;
    assert!(statistic < 10.83, "{to_a}:{to_b}, chi-square {statistic}");
}

#[test]
fn a_changed_a_record_is_picked_up_once_its_ttl_runs_out() {
    require_sipp();
    let (ip, moved_to) = (ip(45), ip(46));
    let dir = tempfile::tempdir().unwrap();
    let dns = Dnsmasq::start(dir.path(), &ip, &[], &format!("{ip} pbx.test\n"));
    let runner = Runner::start(
        &ip,
        &config(&ip, "pbx.test:5070", &dns.address),
        dir.path(),
        &[],
    );
    let _old = callee(dir.path(), &ip, 5070);
    let _new = callee(dir.path(), &moved_to, 5070);
    calls_complete(&runner, dir.path(), &ip, "before", 5, 10, 5);
    assert!(peers(&runner, 5).iter().all(|p| *p == format!("{ip}:5070")));

    dns.set_hosts(&format!("{moved_to} pbx.test\n"));
    // The record's TTL is 1 s.
    std::thread::sleep(Duration::from_millis(1_500));
    calls_complete(&runner, dir.path(), &ip, "after", 5, 10, 10);
    assert!(
        peers(&runner, 5)
            .iter()
            .all(|p| *p == format!("{moved_to}:5070")),
        "{:?}\n{}",
        peers(&runner, 5),
        dns.log_text()
    );
}
