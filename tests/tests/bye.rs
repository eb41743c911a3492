//! BYE (checklist D1–D6).

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::status::{EndedBy, LegState, Outcome};

#[test]
fn d1_bye_from_the_caller() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "d1");
    net.advance(Duration::from_secs(30));
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "d1", "z9hG4bKd1bye", 2, &a_tag, "", ""),
    );
    let sent = net.take();
    let ok = sent.iter().find(|m| m.to == addr(CALLER)).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.parsed.cseq.to_string(), "2 BYE");
    let bye = sent.iter().find(|m| m.to == addr(CALLEE)).unwrap();
    assert!(bye.is("BYE"));
    assert_eq!(bye.start_line(), format!("BYE sip:bob@{CALLEE} SIP/2.0"));
    assert_eq!(bye.parsed.call_id, b_invite.parsed.call_id);
    net.send(CALLEE, &bye.reply(200, "OK", None, "", ""));
    assert!(net.take().is_empty(), "the callee's 200 is absorbed");
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::Completed);
    assert_eq!(record.ended_by, EndedBy::Caller);
    assert_eq!(record.duration(), Duration::from_secs(30));
    assert!(
        record
            .legs
            .iter()
            .all(|leg| leg.state == LegState::Terminated)
    );
}

#[test]
fn d2_bye_from_the_callee() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "d2");
    net.send(
        CALLEE,
        &callee_request(
            "BYE",
            &b_invite,
            "bob-tag",
            "z9hG4bKd2",
            5,
            "Reason: Q.850;cause=16\r\n",
            "",
        ),
    );
    let sent = net.take();
    assert_eq!(
        sent.iter().find(|m| m.to == addr(CALLEE)).unwrap().status(),
        Some(200)
    );
    let bye = sent.iter().find(|m| m.to == addr(CALLER)).unwrap();
    assert!(bye.is("BYE"));
    assert_eq!(bye.parsed.call_id, "d2");
    assert_eq!(bye.tag_of_from(), a_ok.to_tag());
    assert_eq!(bye.start_line(), format!("BYE sip:alice@{CALLER} SIP/2.0"));
    let record = &net.history()[0];
    assert_eq!(record.ended_by, EndedBy::Callee);
    assert!(
        record.reason.contains("Q.850;cause=16"),
        "{}",
        record.reason
    );
}

#[test]
fn d3_crossing_byes_both_get_answers_and_nothing_sticks() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "d3");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "d3", "z9hG4bKd3a", 2, &a_tag, "", ""),
    );
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKd3b", 5, "", ""),
    );
    let sent = net.take();
    let answers: Vec<_> = sent
        .iter()
        .filter(|m| m.parsed.cseq.method.as_str() == "BYE" && m.status().is_some())
        .map(|m| (m.to, m.status().unwrap()))
        .collect();
    assert!(answers.contains(&(addr(CALLER), 200)));
    assert!(
        answers
            .iter()
            .any(|(to, status)| *to == addr(CALLEE) && (*status == 200 || *status == 481))
    );
    assert_eq!(
        sent.iter()
            .filter(|m| m.to == addr(CALLER) && m.is("BYE"))
            .count(),
        0,
        "no BYE back to a caller who hung up"
    );
    net.advance(Duration::from_secs(40));
    assert_eq!(net.engine().call_count(), 0);
    assert_eq!(net.engine().pending_work(), PendingWork::default());
    assert_eq!(net.history().len(), 1);
}

#[test]
fn d4_bye_while_a_reinvite_is_pending_answers_it_487() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "d4");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "d4", "z9hG4bKd4re", 2, &a_tag, "", SDP),
    );
    let reinvite = net.expect_one(CALLEE, "INVITE");
    assert!(reinvite.to_tag().is_some());
    net.send(
        CALLER,
        &caller_request("BYE", "d4", "z9hG4bKd4bye", 3, &a_tag, "", ""),
    );
    let sent = net.take();
    let to_caller: Vec<_> = sent
        .iter()
        .filter(|m| m.to == addr(CALLER))
        .map(|m| (m.status(), m.parsed.cseq.method.to_string()))
        .collect();
    assert!(
        to_caller.contains(&(Some(487), "INVITE".to_owned())),
        "{to_caller:?}"
    );
    assert!(
        to_caller.contains(&(Some(200), "BYE".to_owned())),
        "{to_caller:?}"
    );
}

#[test]
fn d5_bye_before_the_ack_is_accepted_and_our_bye_waits_for_the_ack() {
    // The caller hangs up between the 200 and its ACK.
    let mut net = Net::new(config());
    net.send(CALLER, &invite("d5", "z9hG4bKd5", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let a_tag = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER))
        .unwrap()
        .to_tag()
        .unwrap()
        .to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "d5", "z9hG4bKd5bye", 2, &a_tag, "", ""),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(200))
    );
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    net.advance(Duration::from_secs(5));
    assert!(
        !net.take().iter().any(|m| m.to == addr(CALLER)
            && m.status() == Some(200)
            && m.parsed.cseq.method.as_str() == "INVITE"),
        "the 2xx retransmissions stop"
    );

    // The callee hangs up before the caller's ACK: the BYE toward the caller waits for it.
    let mut net = Net::new(config());
    net.send(CALLER, &invite("d5b", "z9hG4bKd5b", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let a_tag = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER))
        .unwrap()
        .to_tag()
        .unwrap()
        .to_owned();
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKd5bb", 5, "", ""),
    );
    assert!(
        !net.take()
            .iter()
            .any(|m| m.to == addr(CALLER) && m.is("BYE")),
        "held until the ACK"
    );
    net.send(CALLER, &caller_ack("d5b", 1, &a_tag, ""));
    assert_eq!(
        net.expect_one(CALLER, "BYE").tag_of_from(),
        Some(a_tag.as_str())
    );
}

#[test]
fn d6_bye_to_an_unknown_dialog_gets_481() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &caller_request("BYE", "unknown", "z9hG4bKd6", 2, "no-such-tag", "", ""),
    );
    let sent = net.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), Some(481));
}

#[test]
fn a_bye_before_the_ack_of_a_late_offer_still_acks_leg_b() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("d7", "z9hG4bKd7", 1, 70, "", ""));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP));
    let a_tag = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER))
        .unwrap()
        .to_tag()
        .unwrap()
        .to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "d7", "z9hG4bKd7bye", 2, &a_tag, "", ""),
    );
    let to_callee: Vec<String> = net
        .take()
        .iter()
        .filter(|m| m.to == addr(CALLEE))
        .map(|m| m.method().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        to_callee,
        ["ACK", "BYE"],
        "the held ACK goes out before the BYE"
    );
}
