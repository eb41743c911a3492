//! Observability as on Expressway (checklist K1–K4): two leg records per call under one tag,
//! live leg states, history records, disconnecting from outside.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::Event;
use twoleg_core::config::ValidConfig;
use twoleg_core::status::{EndedBy, LegState, Outcome, Side, TurnDecision};

#[test]
fn k1_k2_a_live_call_shows_two_legs_under_one_tag() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("k1", "z9hG4bKk1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    let calls: Vec<_> = net.engine().calls().collect();
    assert_eq!(calls.len(), 1);
    let [a, b] = &calls[0].legs;
    assert_eq!((a.side, b.side), (Side::A, Side::B));
    assert_ne!(a.serial, b.serial, "each leg has its own serial number");
    assert_eq!((a.state, b.state), (LegState::Trying, LegState::Trying));
    assert_eq!(a.call_id, "k1");
    assert_eq!(b.call_id, b_invite.parsed.call_id);
    assert_eq!(a.peer, addr(CALLER));
    assert_eq!(b.peer, addr(CALLEE));
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    let states: Vec<_> = net
        .engine()
        .calls()
        .next()
        .unwrap()
        .legs
        .iter()
        .map(|l| l.state)
        .collect();
    assert_eq!(states, [LegState::Early, LegState::Early]);
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let status = net.engine().calls().next().unwrap();
    assert!(status.legs.iter().all(|l| l.state == LegState::Confirmed));
    assert_eq!(status.legs[1].remote_tag.as_deref(), Some("bob-tag"));
    let tag = status.tag.clone();
    let leg_events = net
        .events
        .iter()
        .filter(|e| matches!(e, Event::LegState { tag: t, .. } if *t == tag))
        .count();
    assert_eq!(leg_events, 6, "Trying, Early, Confirmed on each leg");
}

#[test]
fn k3_history_records_times_status_reason_and_turn() {
    let example = ValidConfig::from_json(twoleg_core::config::EXAMPLE_CONFIG).unwrap();
    let mut net = Net::new(example);
    // The example's first route takes lync.example.com through the Lync B2BUA, to 127.0.0.1:5061.
    let text = invite("k3", "z9hG4bKk3", 1, 70, "", SDP).replace(
        "sip:bob@example.com SIP/2.0",
        "sip:bob@lync.example.com SIP/2.0",
    );
    net.send(CALLER, &text);
    let b_invite = net.expect_one("127.0.0.1:5061", "INVITE");
    assert_eq!(
        b_invite.from,
        addr("127.0.0.1:65072"),
        "the route's listener"
    );
    net.advance(Duration::from_secs(2));
    net.send_to(
        "127.0.0.1:5061",
        "127.0.0.1:65072",
        &b_invite.reply(
            200,
            "OK",
            Some("lync-tag"),
            "Contact: <sip:bob@127.0.0.1:5061>\r\n",
            SDP_ANSWER,
        ),
    );
    let a_tag = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER))
        .unwrap()
        .to_tag()
        .unwrap()
        .to_owned();
    net.send(CALLER, &caller_ack("k3", 1, &a_tag, ""));
    net.advance(Duration::from_secs(10));
    net.send(
        CALLER,
        &caller_request(
            "BYE",
            "k3",
            "z9hG4bKk3bye",
            2,
            &a_tag,
            "Reason: SIP;cause=200;text=\"done\"\r\n",
            "",
        ),
    );
    let record = net.history().pop().unwrap();
    assert_eq!(record.route, "to Lync");
    assert_eq!(record.started_at.as_millis(), 0);
    assert_eq!(record.answered_at.unwrap().as_millis(), 2_000);
    assert_eq!(record.ended_at.as_millis(), 12_000);
    assert_eq!(record.duration(), Duration::from_secs(10));
    assert_eq!(record.final_status, 200);
    assert_eq!(record.outcome, Outcome::Completed);
    assert_eq!(record.ended_by, EndedBy::Caller);
    assert!(record.reason.contains("text=\"done\""), "{}", record.reason);
    let TurnDecision::Offered { address, .. } = record.turn else {
        panic!(
            "a TURN server is offered on the Lync route: {:?}",
            record.turn
        );
    };
    assert!(address.ip().to_string().starts_with("127.0.0."));
    assert_eq!(record.legs[0].final_status, Some(200));
    assert_eq!(record.legs[1].final_status, Some(200));
}

#[test]
fn k3_no_turn_offer_records_why() {
    let text = r#"{ "lync_b2bua": { "enabled": true, "offer_turn_services": true },
        "routes": [ { "destination": "127.0.0.1:5070", "lync": true } ] }"#;
    let mut net = Net::new(ValidConfig::from_json(text).unwrap());
    net.send(CALLER, &invite("k3b", "z9hG4bKk3b", 1, 70, "", SDP));
    let status = net.engine().calls().next().unwrap();
    assert_eq!(
        status.turn,
        TurnDecision::NotOffered {
            leg: Side::B,
            reason: "no B2BUA TURN servers are configured".to_owned()
        }
    );
    let mut net = Net::new(config());
    net.send(CALLER, &invite("k3c", "z9hG4bKk3c", 1, 70, "", SDP));
    assert_eq!(
        net.engine().calls().next().unwrap().turn,
        TurnDecision::NotApplicable
    );
}

#[test]
fn k4_disconnecting_an_answered_call_sends_bye_on_both_legs() {
    let mut net = Net::new(config());
    answered_call(&mut net, "k4");
    let tag = net.engine().calls().next().unwrap().tag;
    net.disconnect(&tag).unwrap();
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")));
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    let record = net.history().pop().unwrap();
    assert_eq!(record.outcome, Outcome::Disconnected);
    assert_eq!(record.ended_by, EndedBy::B2bua);
    assert!(net.disconnect(&tag).is_err(), "the call is gone");
}

#[test]
fn k4_disconnecting_a_ringing_call_cancels_it() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("k4b", "z9hG4bKk4b", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.take();
    let tag = net.engine().calls().next().unwrap().tag;
    net.disconnect(&tag).unwrap();
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("CANCEL")));
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(487))
    );
}

#[test]
fn history_is_bounded_by_the_config() {
    let text =
        r#"{ "history": { "max_calls": 3 }, "routes": [ { "destination": "127.0.0.1:5070" } ] }"#;
    let mut net = Net::new(ValidConfig::from_json(text).unwrap());
    for i in 0..5 {
        let call_id = format!("h{i}");
        net.send(
            CALLER,
            &invite(&call_id, &format!("z9hG4bKh{i}"), 1, 70, "", SDP),
        );
        let b = net.expect_one(CALLEE, "INVITE");
        net.send(CALLEE, &b.reply(486, "Busy Here", Some("t"), "", ""));
        net.take();
    }
    let kept: Vec<_> = net
        .history()
        .iter()
        .map(|r| r.legs[0].call_id.clone())
        .collect();
    assert_eq!(kept, ["h2", "h3", "h4"]);
    assert_eq!(net.engine().history().total(), 5);
}

#[test]
fn draining_ends_live_calls_and_refuses_new_ones_with_retry_after() {
    let mut net = Net::new(config());
    answered_call(&mut net, "dr1");
    net.shut_down();
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")));
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    net.send(CALLER, &invite("dr2", "z9hG4bKdr2", 1, 70, "", SDP));
    let refused = net.take();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].status(), Some(503));
    assert_eq!(refused[0].header("Retry-After"), Some("60"));
    assert_eq!(net.engine().call_count(), 0);
}
