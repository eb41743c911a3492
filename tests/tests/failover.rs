//! A route with several destinations: priority order, sharing by weight, failing over on 503,
//! no answer or a transport error (the caller sees none of it), OPTIONS pings marking a
//! destination down and up, and the Request-URI rewrite.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::Event;
use twoleg_core::config::ValidConfig;
use twoleg_core::turn::Health;

const FIRST: &str = "127.0.0.1:5071";
const SECOND: &str = "127.0.0.1:5072";
const THIRD: &str = "127.0.0.1:5073";

/// One UDP route over `destinations` (`(address, priority, weight)`), with more settings.
fn route_over(destinations: &[(&str, u16, u16)], settings: &str) -> ValidConfig {
    let list: Vec<String> = destinations
        .iter()
        .map(|(address, priority, weight)| {
            format!(r#"{{ "address": "{address}", "priority": {priority}, "weight": {weight} }}"#)
        })
        .collect();
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "pool", "destinations": [ {} ] {settings} }} ] }}"#,
        list.join(", ")
    );
    ValidConfig::from_json(&text).unwrap()
}

fn place(net: &mut Net, n: u32) -> Vec<Msg> {
    net.send(
        CALLER,
        &invite(&format!("fo{n}"), &format!("z9hG4bKfo{n}"), 1, 70, "", SDP),
    );
    net.take()
}

fn invite_to(sent: &[Msg], to: &str) -> Option<Msg> {
    sent.iter()
        .find(|m| m.to == addr(to) && m.is("INVITE"))
        .cloned()
}

fn cseq_number(msg: &Msg) -> u32 {
    msg.header("CSeq")
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn a_503_from_the_first_destination_sends_the_invite_on_to_the_next_and_the_caller_never_sees_it() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1), (SECOND, 2, 1)], ""));
    let sent = place(&mut net, 1);
    let first = invite_to(&sent, FIRST).expect("priority 1 goes first");
    net.send(
        FIRST,
        &first.reply(503, "Service Unavailable", Some("f"), "", ""),
    );
    let sent = net.take();
    let second = invite_to(&sent, SECOND).expect("the INVITE goes on");
    assert!(
        sent.iter().any(|m| m.to == addr(FIRST) && m.is("ACK")),
        "the 503 is ACKed"
    );
    assert!(
        !sent
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(503)),
        "the caller does not hear the 503"
    );
    // The same leg B (Call-ID, From tag), a new transaction with the next CSeq.
    assert_eq!(second.parsed.call_id, first.parsed.call_id);
    assert_eq!(second.tag_of_from(), first.tag_of_from());
    assert_ne!(second.branch(), first.branch());
    assert_eq!(cseq_number(&second), cseq_number(&first) + 1);
    assert_eq!(second.body(), first.body());
    let contact = format!("Contact: <sip:bob@{SECOND}>\r\n");
    net.send(
        SECOND,
        &second.reply(200, "OK", Some("s"), &contact, SDP_ANSWER),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(200)),
        "the caller gets the second destination's 200"
    );
    assert!(
        sent.iter().any(|m| m.to == addr(SECOND) && m.is("ACK")),
        "the 200 is ACKed where it came from"
    );
    assert!(!sent.iter().any(|m| m.to == addr(FIRST)), "{sent:#?}");
    let call = net.engine().calls().next().unwrap();
    assert_eq!(call.legs[1].peer, addr(SECOND));
    assert_eq!(call.attempts.len(), 2);
    assert_eq!(call.attempts[0].address, addr(FIRST));
    assert_eq!(
        call.attempts[0].failed.as_deref(),
        Some("503 Service Unavailable")
    );
    assert_eq!(call.attempts[1].address, addr(SECOND));
    assert_eq!(call.attempts[1].failed, None);
}

#[test]
fn no_answer_within_failover_after_ms_moves_on_and_the_first_destination_gets_no_new_request() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 2, 1)],
        r#", "failover_after_ms": 2000"#,
    ));
    let sent = place(&mut net, 2);
    let first = invite_to(&sent, FIRST).unwrap();
    net.advance(Duration::from_millis(1_900));
    let sent = net.take();
    assert!(invite_to(&sent, SECOND).is_none(), "not before 2 s");
    net.advance(Duration::from_millis(200));
    let sent = net.take();
    assert!(invite_to(&sent, SECOND).is_some(), "after 2 s: {sent:#?}");
    // The abandoned INVITE's transaction runs to Timer B (it may still ring, to be
    // cancelled): only its retransmissions go there, then nothing.
    net.advance(Duration::from_secs(10));
    let sent = net.take();
    assert!(
        sent.iter()
            .filter(|m| m.to == addr(FIRST))
            .all(|m| m.is("INVITE") && m.branch() == first.branch()),
        "{sent:#?}"
    );
    assert!(
        !sent
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status().unwrap_or(0) >= 300),
        "the caller still waits"
    );
    let call = net.engine().calls().next().unwrap();
    assert_eq!(
        call.attempts[0].failed.as_deref(),
        Some("no answer in 2000 ms")
    );
    net.advance(Duration::from_secs(30));
    net.take();
    net.advance(Duration::from_secs(10));
    let sent = net.take();
    assert!(!sent.iter().any(|m| m.to == addr(FIRST)), "{sent:#?}");
}

#[test]
fn the_abandoned_destination_is_cancelled_when_it_rings_and_hung_up_when_it_answers() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 2, 1), (THIRD, 3, 1)],
        r#", "failover_after_ms": 1000"#,
    ));
    let first = invite_to(&place(&mut net, 20), FIRST).unwrap();
    net.advance(Duration::from_millis(1_000));
    let second = invite_to(&net.take(), SECOND).expect("failed over");
    // The first wakes up and rings: it is cancelled.
    let contact = format!("Contact: <sip:bob@{FIRST}>\r\n");
    net.send(
        FIRST,
        &first.reply(180, "Ringing", Some("late"), &contact, ""),
    );
    let sent = net.take();
    let cancel = sent
        .iter()
        .find(|m| m.to == addr(FIRST) && m.is("CANCEL"))
        .expect("a CANCEL to the first destination");
    assert_eq!(cancel.branch(), first.branch(), "for the INVITE it left");
    assert!(
        !sent
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(180)),
        "the caller hears nothing of it"
    );
    // It answers all the same: ACKed and hung up; the call goes on with the second.
    net.send(
        FIRST,
        &first.reply(200, "OK", Some("late"), &contact, SDP_ANSWER),
    );
    let sent = net.take();
    assert!(
        sent.iter().any(|m| m.to == addr(FIRST) && m.is("ACK")),
        "{sent:#?}"
    );
    assert!(
        sent.iter().any(|m| m.to == addr(FIRST) && m.is("BYE")),
        "{sent:#?}"
    );
    assert!(
        !sent
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(200))
    );
    let contact = format!("Contact: <sip:bob@{SECOND}>\r\n");
    net.send(
        SECOND,
        &second.reply(200, "OK", Some("s"), &contact, SDP_ANSWER),
    );
    let sent = net.take_to(CALLER);
    assert!(sent.iter().any(|m| m.status() == Some(200)));
    assert_eq!(
        net.engine().calls().next().unwrap().legs[1].peer,
        addr(SECOND)
    );
}

#[test]
fn a_bye_to_a_destination_that_went_away_does_not_mark_it_down() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1)], r#", "ping_interval_s": 60"#));
    let b_invite = invite_to(&place(&mut net, 21), FIRST).unwrap();
    let contact = format!("Contact: <sip:bob@{FIRST}>\r\n");
    net.send(
        FIRST,
        &b_invite.reply(200, "OK", Some("b"), &contact, SDP_ANSWER),
    );
    let ok = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .unwrap();
    net.send(CALLER, &caller_ack("fo21", 1, ok.to_tag().unwrap(), ""));
    net.send(
        CALLER,
        &caller_request(
            "BYE",
            "fo21",
            "z9hG4bKbye21",
            2,
            ok.to_tag().unwrap(),
            "",
            "",
        ),
    );
    net.undeliverable(Transport::Udp, FIRST);
    assert_eq!(net.engine().destinations()[0].health, Health::Up);
}

#[test]
fn a_503_with_retry_after_keeps_new_calls_off_that_destination_that_long() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1), (SECOND, 2, 1)], ""));
    let first = invite_to(&place(&mut net, 30), FIRST).unwrap();
    net.send(
        FIRST,
        &first.reply(
            503,
            "Service Unavailable",
            Some("f"),
            "Retry-After: 30\r\n",
            "",
        ),
    );
    assert!(invite_to(&net.take(), SECOND).is_some(), "failed over");
    let sent = place(&mut net, 31);
    assert!(invite_to(&sent, FIRST).is_none(), "resting: {sent:#?}");
    assert!(invite_to(&sent, SECOND).is_some());
    net.advance(Duration::from_secs(31));
    net.take();
    assert!(
        invite_to(&place(&mut net, 32), FIRST).is_some(),
        "back after 30 s"
    );
}

#[test]
fn a_100_trying_stops_the_failover_wait() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 2, 1)],
        r#", "failover_after_ms": 2000"#,
    ));
    let first = invite_to(&place(&mut net, 3), FIRST).unwrap();
    net.send(FIRST, &first.reply(100, "Trying", None, "", ""));
    net.advance(Duration::from_secs(5));
    assert!(invite_to(&net.take(), SECOND).is_none());
}

#[test]
fn a_transport_error_fails_over_at_once() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1), (SECOND, 2, 1)], ""));
    assert!(invite_to(&place(&mut net, 4), FIRST).is_some());
    net.undeliverable(Transport::Udp, FIRST);
    let sent = net.take();
    assert!(invite_to(&sent, SECOND).is_some(), "{sent:#?}");
    let call = net.engine().calls().next().unwrap();
    assert_eq!(call.attempts[0].failed.as_deref(), Some("transport error"));
}

#[test]
fn the_last_destination_failing_answers_the_caller_and_the_record_lists_every_attempt() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1), (SECOND, 2, 1)], ""));
    let first = invite_to(&place(&mut net, 5), FIRST).unwrap();
    net.send(
        FIRST,
        &first.reply(503, "Service Unavailable", Some("f"), "", ""),
    );
    let second = invite_to(&net.take(), SECOND).unwrap();
    net.send(
        SECOND,
        &second.reply(503, "Service Unavailable", Some("s"), "", ""),
    );
    let to_caller = net.take_to(CALLER);
    assert!(
        to_caller.iter().any(|m| m.status() == Some(503)),
        "{to_caller:#?}"
    );
    net.advance(Duration::from_secs(40));
    let record = net.history().pop().expect("one record");
    let tried: Vec<_> = record.attempts.iter().map(|a| a.address).collect();
    assert_eq!(tried, vec![addr(FIRST), addr(SECOND)]);
    assert_eq!(record.final_status, 503);
}

#[test]
fn a_503_after_an_early_dialog_is_not_failed_over() {
    let mut net = Net::new(route_over(&[(FIRST, 1, 1), (SECOND, 2, 1)], ""));
    let first = invite_to(&place(&mut net, 6), FIRST).unwrap();
    net.send(
        FIRST,
        &first.reply(
            180,
            "Ringing",
            Some("f"),
            &format!("Contact: <sip:bob@{FIRST}>\r\n"),
            "",
        ),
    );
    net.send(
        FIRST,
        &first.reply(503, "Service Unavailable", Some("f"), "", ""),
    );
    let sent = net.take();
    assert!(invite_to(&sent, SECOND).is_none());
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(503))
    );
}

#[test]
fn the_best_priority_always_goes_first_and_its_destinations_share_calls_by_weight() {
    // Two at priority 1 weighted 1:3, one at priority 2 never tried first.
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 1, 3), (THIRD, 2, 10)],
        "",
    ));
    let (mut first, mut second) = (0u32, 0u32);
    for n in 0..1_000 {
        let sent = place(&mut net, 100 + n);
        let to = sent
            .iter()
            .find(|m| m.is("INVITE") && m.to != addr(CALLER))
            .unwrap()
            .to;
        assert_ne!(to, addr(THIRD), "priority 2 is only a fallback");
        if to == addr(FIRST) {
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
    let counted: u64 = net.engine().destinations().iter().map(|d| d.calls).sum();
    assert_eq!(counted, 1_000);
}

#[test]
fn a_destination_that_misses_its_pings_is_skipped_until_it_answers_one() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 2, 1)],
        r#", "ping_interval_s": 5, "ping_failures_before_down": 2"#,
    ));
    // The first round: both pinged; the second destination answers every ping.
    let answer_pings = |net: &mut Net, sent: &[Msg], who: &str| {
        for ping in sent.iter().filter(|m| m.to == addr(who) && m.is("OPTIONS")) {
            net.send(who, &ping.reply(200, "OK", Some("p"), "", ""));
        }
    };
    let mut pinged_first = 0;
    for _ in 0..3 {
        let sent = net.take();
        pinged_first += sent
            .iter()
            .filter(|m| m.to == addr(FIRST) && m.is("OPTIONS"))
            .count();
        answer_pings(&mut net, &sent, SECOND);
        net.advance(Duration::from_secs(5));
    }
    assert!(pinged_first >= 2, "pinged every round");
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::DestinationHealth { destination, health: Health::Down, .. } if *destination == FIRST
    )));
    let health: Vec<_> = net
        .engine()
        .destinations()
        .iter()
        .map(|d| (d.address.clone(), d.health))
        .collect();
    assert_eq!(
        health,
        vec![
            (FIRST.to_owned(), Health::Down),
            (SECOND.to_owned(), Health::Up)
        ]
    );
    // New calls go straight to the second.
    let sent = place(&mut net, 7);
    assert!(invite_to(&sent, FIRST).is_none());
    assert!(invite_to(&sent, SECOND).is_some());
    // The first answers a ping: it is up and takes calls again.
    net.advance(Duration::from_secs(5));
    let sent = net.take();
    answer_pings(&mut net, &sent, FIRST);
    assert_eq!(net.engine().destinations()[0].health, Health::Up);
    assert!(invite_to(&place(&mut net, 8), FIRST).is_some());
}

#[test]
fn with_every_destination_down_a_call_gets_503_with_retry_after_and_no_leg_b() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1)],
        r#", "ping_interval_s": 4, "ping_failures_before_down": 1"#,
    ));
    net.advance(Duration::from_secs(4));
    assert_eq!(net.engine().destinations()[0].health, Health::Down);
    net.take();
    let sent = place(&mut net, 9);
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert_eq!(busy.header("Retry-After"), Some("4"));
    assert!(invite_to(&sent, FIRST).is_none());
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a_timed_out_invite_marks_a_pinged_destination_down_at_once() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1), (SECOND, 2, 1)],
        r#", "failover_after_ms": 1000, "ping_interval_s": 30"#,
    ));
    // Both answer the first pings (sent when time first passes).
    net.advance(Duration::ZERO);
    let sent = net.take();
    for who in [FIRST, SECOND] {
        let ping = sent
            .iter()
            .find(|m| m.to == addr(who) && m.is("OPTIONS"))
            .unwrap()
            .clone();
        net.send(who, &ping.reply(200, "OK", Some("p"), "", ""));
    }
    place(&mut net, 10);
    net.advance(Duration::from_millis(1_000));
    assert!(invite_to(&net.take(), SECOND).is_some());
    assert_eq!(net.engine().destinations()[0].health, Health::Down);
    // The next call does not wait for the first.
    let sent = place(&mut net, 11);
    assert!(invite_to(&sent, FIRST).is_none());
    assert!(invite_to(&sent, SECOND).is_some());
}

#[test]
fn the_request_uri_is_rewritten_on_leg_b() {
    let mut net = Net::new(route_over(
        &[(FIRST, 1, 1)],
        r#", "rewrite_user": "+4420", "rewrite_host": "pbx.example.net:5080""#,
    ));
    let b_invite = invite_to(&place(&mut net, 12), FIRST).unwrap();
    assert!(
        b_invite
            .start_line()
            .starts_with("INVITE sip:+4420@pbx.example.net:5080 SIP/2.0"),
        "{}",
        b_invite.start_line()
    );
}

#[test]
fn destination_settings_are_checked() {
    let bad = [
        (
            r#"{ "destination": "127.0.0.1:5070", "destinations": [ { "address": "127.0.0.1:5071" } ] }"#,
            "routes[0].destinations: is given with destination; give one or the other",
        ),
        (
            r#"{ "destinations": [ { "address": "127.0.0.1:5071" }, { "address": "127.0.0.1:5071" } ] }"#,
            "routes[0].destinations[1].address: 127.0.0.1:5071 is listed twice on this route",
        ),
        (
            r#"{ "destination": "127.0.0.1:5070", "rewrite_host": "a b" }"#,
            "routes[0].rewrite_host: \"a b\" is not a host name or IP address (with an optional :port)",
        ),
        (
            r#"{ "destination": "127.0.0.1:5070", "rewrite_user": "bob@x" }"#,
            "routes[0].rewrite_user: \"bob@x\" is not a SIP URI user part (no spaces, @ or :)",
        ),
    ];
    for (route, expected) in bad {
        let text = format!(r#"{{ "version": 1, "routes": [ {route} ] }}"#);
        let problems = ValidConfig::from_json(&text).unwrap_err();
        let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(all.iter().any(|p| p == expected), "{all:#?}");
    }
}

/// The simulator's callees behind one route, pinged every 2 s; the second's link from TwoLeg
/// loses everything when `second_dead`.
fn simulated_pool(second_dead: bool) -> twoleg_sim::Sim {
    use twoleg_sim::{CalleeScript, CallerScript, LinkConditions, Sim, SimConfig};
    let config = route_over(
        &[(FIRST, 1, 1), (SECOND, 1, 1)],
        r#", "failover_after_ms": 1000, "ping_interval_s": 2, "ping_failures_before_down": 1"#,
    );
    let mut sim = Sim::new(config, SimConfig::default());
    if second_dead {
        let dead = LinkConditions {
            loss: 1.0,
            ..LinkConditions::default()
        };
        sim.set_link(addr(B2BUA), addr(SECOND), dead);
    }
    for i in 0..40 {
        sim.place_call(
            Duration::from_millis(250 * i),
            CallerScript {
                hang_up_after: Some(Duration::from_millis(500)),
                ..Default::default()
            },
            CalleeScript::Answer {
                after: Duration::from_millis(20),
                hang_up_after: None,
            },
        );
    }
    sim.run_until_idle().expect("the simulation ends");
    sim
}

#[test]
fn in_the_simulator_both_destinations_take_calls_and_the_run_ends_despite_the_pings() {
    let sim = simulated_pool(false);
    let history: Vec<_> = sim.engine().history().iter().cloned().collect();
    assert_eq!(history.len(), 40);
    assert!(history.iter().all(|r| r.final_status == 200));
    let to = |who: &str| {
        history
            .iter()
            .filter(|r| r.legs[1].peer == addr(who))
            .count()
    };
    assert!(
        to(FIRST) >= 10 && to(SECOND) >= 10,
        "{}:{}",
        to(FIRST),
        to(SECOND)
    );
    assert!(
        sim.engine()
            .destinations()
            .iter()
            .all(|d| d.health == Health::Up)
    );
}

#[test]
fn in_the_simulator_a_dead_destination_is_failed_over_then_skipped() {
    let sim = simulated_pool(true);
    let history: Vec<_> = sim.engine().history().iter().cloned().collect();
    assert_eq!(history.len(), 40);
    assert!(
        history.iter().all(|r| r.final_status == 200),
        "no call fails: {:?}",
        history.iter().map(|r| r.final_status).collect::<Vec<_>>()
    );
    assert!(history.iter().all(|r| r.legs[1].peer == addr(FIRST)));
    let failed_over = history.iter().filter(|r| r.attempts.len() == 2).count();
    // Only calls placed before the first ping round found the second down went to it.
    assert!(failed_over <= 2, "{failed_over} calls failed over");
    assert_eq!(sim.engine().destinations()[1].health, Health::Down);
}

#[test]
fn a_call_fails_over_only_to_destinations_in_the_zone_of_its_first() {
    // Leg B's SDP was written for the first destination's zone (here plain RTP); a destination
    // in a Force encrypted zone would get an offer its policy refuses.
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "pool", "destinations": [
                 {{ "address": "{FIRST}", "priority": 1 }},
                 {{ "address": "127.0.0.2:5072", "priority": 2 }},
                 {{ "address": "{THIRD}", "priority": 3 }} ] }} ],
             "zones": [ {{ "name": "secure", "peers": ["127.0.0.2/32"],
                          "media_encryption_mode": "force_encrypted" }} ] }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    let sent = place(&mut net, 60);
    let first = invite_to(&sent, FIRST).expect("priority 1 first");
    net.send(
        FIRST,
        &first.reply(503, "Service Unavailable", Some("x"), "", ""),
    );
    let sent = net.take();
    assert!(invite_to(&sent, "127.0.0.2:5072").is_none(), "{sent:#?}");
    assert!(
        invite_to(&sent, THIRD).is_some(),
        "the next destination in the same zone"
    );
}
