//! Protection before a call is made: a route's limits on concurrent calls and calls per second
//! (503 with Retry-After beyond them, no leg B), and an INVITE TwoLeg itself sent coming back
//! (482 at once: no second call, no chain of calls).

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::ValidConfig;

fn config_with_route(settings: &str, destination: &str) -> ValidConfig {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "destination": "{destination}" {settings} }} ] }}"#
    );
    ValidConfig::from_json(&text).unwrap()
}

fn place(net: &mut Net, n: u32) -> Vec<Msg> {
    let call_id = format!("ad{n}");
    let branch = format!("z9hG4bKad{n}");
    net.send(CALLER, &invite(&call_id, &branch, 1, 70, "", SDP));
    net.take()
}

#[test]
fn a_route_at_its_concurrent_call_limit_answers_503_with_retry_after_until_a_call_ends() {
    let mut net = Net::new(config_with_route(r#", "max_calls": 2"#, CALLEE));
    let mut b_invites = Vec::new();
    for n in 0..2 {
        let sent = place(&mut net, n);
        b_invites.push(
            sent.into_iter()
                .find(|m| m.to == addr(CALLEE) && m.is("INVITE"))
                .unwrap(),
        );
    }
    let sent = place(&mut net, 2);
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert_eq!(busy.header("Retry-After"), Some("5"));
    assert!(!sent.iter().any(|m| m.to == addr(CALLEE)), "no leg B");
    assert_eq!(net.engine().call_count(), 2);
    // One call ends (the callee refuses it): the route takes a new one.
    net.send(
        CALLEE,
        &b_invites[0].reply(486, "Busy Here", Some("x"), "", ""),
    );
    net.take();
    let sent = place(&mut net, 3);
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("INVITE")));
}

#[test]
fn a_route_at_its_calls_per_second_answers_503_and_takes_calls_again_a_second_later() {
    let mut net = Net::new(config_with_route(r#", "max_calls_per_second": 3"#, CALLEE));
    for n in 0..3 {
        assert!(place(&mut net, n).iter().any(|m| m.to == addr(CALLEE)));
    }
    let sent = place(&mut net, 3);
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert_eq!(busy.header("Retry-After"), Some("1"));
    net.advance(Duration::from_millis(1_000));
    assert!(
        place(&mut net, 4)
            .iter()
            .any(|m| m.to == addr(CALLEE) && m.is("INVITE"))
    );
}

#[test]
fn an_invite_that_comes_back_to_twoleg_gets_482_and_makes_no_second_call() {
    // The route points at TwoLeg itself.
    let mut net = Net::new(config_with_route("", B2BUA));
    net.send(CALLER, &invite("lp1", "z9hG4bKlp1", 1, 70, "", SDP));
    let looped = net.expect_one(B2BUA, "INVITE");
    net.send(B2BUA, &looped.text);
    let refused = net.expect_one(B2BUA, "482");
    assert_eq!(net.engine().call_count(), 1, "no second call");
    // The 482 reaches TwoLeg as the answer to its own INVITE, and the caller gets it.
    net.send(B2BUA, &refused.text);
    let sent = net.take_to(CALLER);
    assert!(sent.iter().any(|m| m.status() == Some(482)), "{sent:#?}");
    net.advance(Duration::from_secs(40));
    assert_eq!(net.engine().call_count(), 0);
    assert_eq!(net.history().len(), 1, "one record");
}

#[test]
fn a_listener_at_its_limits_answers_503_before_any_route_is_tried() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}",
                                         "max_calls": 2, "max_calls_per_second": 5 }} ] }},
             "routes": [ {{ "destination": "{CALLEE}" }} ] }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    for n in 10..12 {
        assert!(place(&mut net, n).iter().any(|m| m.to == addr(CALLEE)));
    }
    let sent = place(&mut net, 12);
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert!(
        busy.start_line().contains("Listener Busy"),
        "{}",
        busy.start_line()
    );
    assert_eq!(busy.header("Retry-After"), Some("5"));
    assert!(!sent.iter().any(|m| m.to == addr(CALLEE)), "no leg B");
    assert!(net.events.iter().any(|e| matches!(
        e,
        twoleg_core::Event::Refused {
            reason: twoleg_core::Refusal::ListenerBusy,
            ..
        }
    )));
}

#[test]
fn calls_refused_for_another_reason_do_not_use_up_the_calls_per_second() {
    let mut net = Net::new(config_with_route(r#", "max_calls_per_second": 2"#, CALLEE));
    // Two INVITEs asking for a session interval below the minimum: 422, no call made.
    for n in 0..2 {
        let extra = "Session-Expires: 30\r\nSupported: timer\r\n";
        net.send(
            CALLER,
            &invite(
                &format!("ad4{n}"),
                &format!("z9hG4bKad4{n}"),
                1,
                70,
                extra,
                SDP,
            ),
        );
        let sent = net.take();
        assert!(sent.iter().any(|m| m.status() == Some(422)), "{sent:#?}");
    }
    // The same second: both calls of the budget are still there.
    for n in 0..2 {
        let sent = place(&mut net, 50 + n);
        assert!(
            sent.iter().any(|m| m.to == addr(CALLEE) && m.is("INVITE")),
            "{sent:#?}"
        );
    }
    let sent = place(&mut net, 52);
    assert!(sent.iter().any(|m| m.status() == Some(503)));
}
