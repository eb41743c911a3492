//! Destinations given as host names (RFC 3263) in virtual time, the test playing the DNS: SRV
//! priority and weight, NAPTR, A records for `host:port`, TTLs, failover to the next target,
//! and the INVITE waiting (or cancelled) while the answers are out.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::Event;
use twoleg_core::config::ValidConfig;
use twoleg_core::dns::{DnsRecord, RecordData, RecordKind};
use twoleg_core::turn::Health;
use twoleg_sim::DnsEntry;

fn route_to(destination: &str) -> ValidConfig {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "pool", "destination": "{destination}" }} ] }}"#
    );
    ValidConfig::from_json(&text).unwrap()
}

fn entry(name: &str, kind: RecordKind, ttl_s: u32, data: Vec<RecordData>) -> DnsEntry {
    DnsEntry {
        name: name.to_owned(),
        kind,
        records: data
            .into_iter()
            .map(|data| DnsRecord { ttl_s, data })
            .collect(),
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> RecordData {
    RecordData::Srv {
        priority,
        weight,
        port,
        target: target.to_owned(),
    }
}

fn a(ip: &str) -> RecordData {
    RecordData::Address(ip.parse().unwrap())
}

/// `_sip._udp.pool.example` over two hosts, each with an A record.
fn pool(first: (u16, u16), second: (u16, u16), ttl_s: u32) -> Vec<DnsEntry> {
    vec![
        entry(
            "_sip._udp.pool.example",
            RecordKind::Srv,
            ttl_s,
            vec![
                srv(first.0, first.1, 5071, "a.pool.example."),
                srv(second.0, second.1, 5072, "b.pool.example."),
            ],
        ),
        entry("a.pool.example", RecordKind::A, ttl_s, vec![a("127.0.0.1")]),
        entry("b.pool.example", RecordKind::A, ttl_s, vec![a("127.0.0.1")]),
    ]
}

fn place(net: &mut Net, n: u32) -> Vec<Msg> {
    net.send(
        CALLER,
        &invite(
            &format!("dns{n}"),
            &format!("z9hG4bKdns{n}"),
            1,
            70,
            "",
            SDP,
        ),
    );
    net.take()
}

fn b_invite(sent: &[Msg]) -> Option<Msg> {
    sent.iter()
        .find(|m| m.is("INVITE") && m.to != addr(CALLER))
        .cloned()
}

#[test]
fn srv_targets_go_in_priority_order_and_a_503_fails_over_to_the_next() {
    let mut net = Net::new(route_to("pool.example"));
    net.dns = pool((10, 1), (20, 1), 300);
    let sent = place(&mut net, 1);
    let kinds = net.queries();
    assert_eq!(
        kinds,
        vec![
            ("pool.example", RecordKind::Naptr),
            ("_sip._udp.pool.example", RecordKind::Srv),
            ("a.pool.example", RecordKind::A),
            ("b.pool.example", RecordKind::A),
        ],
        "RFC 3263: NAPTR, then the transport's SRV, then every target's A records"
    );
    let first = b_invite(&sent).expect("the INVITE goes out once the answers are in");
    assert_eq!(first.to, addr("127.0.0.1:5071"), "priority 10 first");
    net.send(
        "127.0.0.1:5071",
        &first.reply(503, "Service Unavailable", Some("x"), "", ""),
    );
    let second = b_invite(&net.take()).expect("failed over");
    assert_eq!(second.to, addr("127.0.0.1:5072"));
    let call = net.engine().calls().next().unwrap();
    let tried: Vec<_> = call.attempts.iter().map(|a| a.address).collect();
    assert_eq!(tried, vec![addr("127.0.0.1:5071"), addr("127.0.0.1:5072")]);
    // The answers are cached: the next call asks nothing.
    let asked = net.dns_queries.len();
    place(&mut net, 2);
    assert_eq!(net.dns_queries.len(), asked);
}

#[test]
fn srv_targets_of_one_priority_share_calls_by_weight() {
    let mut net = Net::new(route_to("pool.example"));
    net.dns = pool((10, 1), (10, 3), 86_400);
    let (mut first, mut second) = (0u32, 0u32);
    for n in 0..1_000 {
        let to = b_invite(&place(&mut net, 100 + n)).unwrap().to;
        if to == addr("127.0.0.1:5071") {
            first += 1;
        } else {
            second += 1;
        }
    }
    // Chi-square against 250:750, one degree of freedom: 10.83 is p = 0.001.
    let chi = |seen: u32, expected: f64| (f64::from(seen) - expected).powi(2) / expected;
    let statistic = chi(first, 250.0) + chi(second, 750.0);
    assert!(
        statistic < 10.83,
        "{first}:{second}, chi-square {statistic}"
    );
}

#[test]
fn a_naptr_record_names_the_srv_record_for_the_transport() {
    let mut net = Net::new(route_to("pool.example"));
    net.dns = vec![
        entry(
            "pool.example",
            RecordKind::Naptr,
            300,
            vec![
                RecordData::Naptr {
                    order: 10,
                    preference: 10,
                    flags: "s".to_owned(),
                    service: "SIP+D2T".to_owned(),
                    replacement: "_sip._tcp.pool.example.".to_owned(),
                },
                RecordData::Naptr {
                    order: 20,
                    preference: 10,
                    flags: "s".to_owned(),
                    service: "SIP+D2U".to_owned(),
                    replacement: "_sip._udp.elsewhere.example.".to_owned(),
                },
            ],
        ),
        entry(
            "_sip._udp.elsewhere.example",
            RecordKind::Srv,
            300,
            vec![srv(1, 1, 5079, "c.elsewhere.example")],
        ),
        entry(
            "c.elsewhere.example",
            RecordKind::A,
            300,
            vec![a("127.0.0.1")],
        ),
    ];
    let sent = place(&mut net, 3);
    assert_eq!(b_invite(&sent).unwrap().to, addr("127.0.0.1:5079"));
}

#[test]
fn host_and_port_is_looked_up_as_a_records_and_a_name_without_srv_goes_to_5060() {
    let mut net = Net::new(route_to("pbx.example:5077"));
    net.dns = vec![entry(
        "pbx.example",
        RecordKind::A,
        300,
        vec![a("127.0.0.1")],
    )];
    let sent = place(&mut net, 4);
    assert_eq!(
        net.dns_queries.iter().map(|q| q.kind).collect::<Vec<_>>(),
        vec![RecordKind::A]
    );
    assert_eq!(b_invite(&sent).unwrap().to, addr("127.0.0.1:5077"));

    let mut net = Net::new(route_to("pbx.example"));
    net.dns = vec![entry(
        "pbx.example",
        RecordKind::A,
        300,
        vec![a("127.0.0.1")],
    )];
    let sent = place(&mut net, 5);
    assert_eq!(b_invite(&sent).unwrap().to, addr("127.0.0.1:5060"));
}

#[test]
fn a_record_is_used_for_its_ttl_and_a_changed_one_is_picked_up_after() {
    let mut net = Net::new(route_to("pbx.example:5077"));
    net.dns = vec![entry(
        "pbx.example",
        RecordKind::A,
        60,
        vec![a("127.0.0.1")],
    )];
    assert_eq!(
        b_invite(&place(&mut net, 6)).unwrap().to,
        addr("127.0.0.1:5077")
    );
    net.dns = vec![entry(
        "pbx.example",
        RecordKind::A,
        60,
        vec![a("127.0.0.9")],
    )];
    net.advance(Duration::from_secs(59));
    net.take();
    assert_eq!(
        b_invite(&place(&mut net, 7)).unwrap().to,
        addr("127.0.0.1:5077"),
        "within the TTL"
    );
    assert_eq!(net.dns_queries.len(), 1);
    net.advance(Duration::from_secs(2));
    net.take();
    assert_eq!(
        b_invite(&place(&mut net, 8)).unwrap().to,
        addr("127.0.0.9:5077"),
        "after it"
    );
    assert_eq!(net.dns_queries.len(), 2);
}

#[test]
fn a_name_that_resolves_to_nothing_gets_503_and_no_leg_b() {
    let mut net = Net::new(route_to("nowhere.example"));
    let sent = place(&mut net, 9);
    let refused = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(503))
        .expect("503");
    assert!(refused.start_line().contains("No Destination Available"));
    assert!(b_invite(&sent).is_none());
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn the_invite_waits_for_dns_and_a_cancel_meanwhile_ends_it_with_487() {
    let mut net = Net::new(route_to("pbx.example:5077"));
    net.dns = vec![entry(
        "pbx.example",
        RecordKind::A,
        300,
        vec![a("127.0.0.1")],
    )];
    net.hold_dns = true;
    let sent = place(&mut net, 10);
    assert!(
        sent.iter()
            .all(|m| m.to == addr(CALLER) && m.status() == Some(100))
    );
    net.send(CALLER, &cancel("dns10", "z9hG4bKdns10", 1));
    let sent = net.take_to(CALLER);
    let statuses: Vec<_> = sent.iter().filter_map(|m| m.status()).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&487),
        "{statuses:?}"
    );
    // The answer comes late: nothing is sent.
    let query = net.dns_queries[0].clone();
    net.answer_dns(&query);
    assert!(b_invite(&net.take()).is_none());
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn an_unanswered_query_counts_as_failed_after_five_seconds() {
    let mut net = Net::new(route_to("pbx.example:5077"));
    net.hold_dns = true;
    place(&mut net, 11);
    net.advance(Duration::from_millis(4_900));
    assert!(net.take_to(CALLER).iter().all(|m| m.status() == Some(100)));
    net.advance(Duration::from_millis(200));
    let sent = net.take_to(CALLER);
    assert!(sent.iter().any(|m| m.status() == Some(503)), "{sent:#?}");
}

#[test]
fn in_the_simulator_calls_reach_the_srv_targets_the_scripted_dns_names() {
    use twoleg_sim::{CalleeScript, CallerScript, Sim, SimConfig};
    let mut sim = Sim::new(
        route_to("pool.example"),
        SimConfig {
            dns: pool((10, 1), (10, 1), 300),
            ..SimConfig::default()
        },
    );
    for i in 0..20 {
        sim.place_call(
            Duration::from_millis(100 * i),
            CallerScript {
                hang_up_after: Some(Duration::from_millis(200)),
                ..Default::default()
            },
            CalleeScript::Answer {
                after: Duration::from_millis(10),
                hang_up_after: None,
            },
        );
    }
    sim.run_until_idle().unwrap();
    let history: Vec<_> = sim.engine().history().iter().cloned().collect();
    assert_eq!(history.len(), 20);
    assert!(history.iter().all(|r| r.final_status == 200));
    let to_second = history
        .iter()
        .filter(|r| r.legs[1].peer == addr("127.0.0.1:5072"))
        .count();
    assert!(
        (3..=17).contains(&to_second),
        "{to_second} of 20 to the second"
    );
}

#[test]
fn records_with_ttl_0_still_complete_a_resolution_whose_answers_come_slowly() {
    let mut net = Net::new(route_to("pool.example"));
    net.dns = pool((10, 1), (20, 1), 0);
    net.hold_dns = true;
    place(&mut net, 12);
    let mut answered = 0;
    let mut b_leg = None;
    // The DNS answers each query 300 ms after it is asked.
    for _ in 0..40 {
        net.advance(Duration::from_millis(300));
        let asked: Vec<_> = net.dns_queries[answered..].to_vec();
        answered = net.dns_queries.len();
        for query in &asked {
            net.answer_dns(query);
        }
        if let Some(invite) = b_invite(&net.take()) {
            b_leg = Some(invite);
            break;
        }
    }
    let invite = b_leg.expect("the INVITE goes out");
    assert_eq!(invite.to, addr("127.0.0.1:5071"));
    assert_eq!(net.dns_queries.len(), 4, "NAPTR, SRV and two A, each once");
}

#[test]
fn an_invite_that_waits_for_dns_too_long_gets_503_and_shutting_down_answers_those_waiting() {
    let mut net = Net::new(route_to("pbx.example:5077"));
    net.hold_dns = true;
    place(&mut net, 13);
    // Every query fails after 5 s and is asked again: after 12 s the caller gets 503.
    net.advance(Duration::from_secs(13));
    let sent = net.take_to(CALLER);
    assert!(sent.iter().any(|m| m.status() == Some(503)), "{sent:#?}");

    let mut net = Net::new(route_to("pbx.example:5077"));
    net.hold_dns = true;
    place(&mut net, 14);
    net.shut_down();
    let sent = net.take_to(CALLER);
    assert!(sent.iter().any(|m| m.status() == Some(503)), "{sent:#?}");
}

#[test]
fn a_host_name_destination_is_pinged_at_each_address_and_is_down_only_when_none_answers() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "pool", "destination": "pool.example",
                           "ping_interval_s": 5, "ping_failures_before_down": 2 }} ] }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    net.dns = pool((10, 1), (20, 1), 86_400);
    let (first, second) = ("127.0.0.1:5071", "127.0.0.1:5072");
    let pings_to = |sent: &[Msg], to: &str| -> Vec<Msg> {
        sent.iter()
            .filter(|m| m.to == addr(to) && m.is("OPTIONS"))
            .cloned()
            .collect()
    };
    // The first round waits for the name's answers, then pings both SRV targets; so does
    // every round after. Only the second answers: one answer keeps the name up.
    for _ in 0..4 {
        net.advance(Duration::from_secs(5));
        let sent = net.take();
        assert!(!pings_to(&sent, first).is_empty(), "{sent:#?}");
        for ping in pings_to(&sent, second) {
            net.send(second, &ping.reply(200, "OK", Some("p"), "", ""));
        }
    }
    let status = &net.engine().destinations()[0];
    assert_eq!(status.address, "pool.example");
    assert_eq!(status.health, Health::Up);
    assert_eq!(status.missed_pings, 0);
    assert!(status.pings_sent >= 8);
    // Now neither answers: two rounds missed, the name is down and calls get 503.
    for _ in 0..3 {
        net.advance(Duration::from_secs(5));
    }
    assert_eq!(net.engine().destinations()[0].health, Health::Down);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::DestinationHealth { destination, health: Health::Down, .. } if destination == "pool.example"
    )));
    net.take();
    let sent = place(&mut net, 40);
    assert!(b_invite(&sent).is_none());
    assert!(sent.iter().any(|m| m.status() == Some(503)));
    // The first target answers a ping: the name is up and calls go to it again.
    net.advance(Duration::from_secs(5));
    let sent = net.take();
    for ping in pings_to(&sent, first) {
        net.send(first, &ping.reply(200, "OK", Some("p"), "", ""));
    }
    assert_eq!(net.engine().destinations()[0].health, Health::Up);
    assert_eq!(b_invite(&place(&mut net, 41)).unwrap().to, addr(first));
}
