//! UDP retransmissions and transaction timers (checklist G1–G7), T1 = 500 ms.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::{TimerValues, ValidConfig};
use twoleg_core::status::{EndedBy, Outcome};

fn offsets(msgs: &[Msg], what: &str, to: &str) -> Vec<u64> {
    let list: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.to == addr(to) && m.is(what))
        .collect();
    let start = list[0].at;
    list.iter()
        .map(|m| m.at.saturating_since(start).as_millis() as u64)
        .collect()
}

#[test]
fn g1_an_unanswered_invite_is_retransmitted_then_408() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("g1", "z9hG4bKg1", 1, 70, "", SDP));
    net.advance(Duration::from_secs(33));
    let sent = net.take();
    assert_eq!(
        offsets(&sent, "INVITE", CALLEE),
        [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500],
        "Timer A: T1 doubling"
    );
    let timeout = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(408))
        .expect("408 on leg A");
    assert_eq!(timeout.at.as_millis(), 32_000, "Timer B = 64*T1");
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::TimedOut);
    assert_eq!(record.final_status, 408);
}

#[test]
fn g2_a_retransmitted_invite_is_absorbed_and_the_last_provisional_resent() {
    let mut net = Net::new(config());
    let text = invite("g2", "z9hG4bKg2", 1, 70, "", SDP);
    net.send(CALLER, &text);
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.take();
    net.send(CALLER, &text);
    let sent = net.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].status(), Some(180));
    assert_eq!(net.engine().call_count(), 1, "no second call");
}

#[test]
fn g3_a_retransmitted_bye_gets_the_same_200_and_leg_b_one_bye() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "g3");
    let bye = caller_request("BYE", "g3", "z9hG4bKg3", 2, a_ok.to_tag().unwrap(), "", "");
    net.send(CALLER, &bye);
    let first = net.take();
    net.advance(Duration::from_millis(500));
    net.take();
    net.send(CALLER, &bye);
    let again = net.take();
    let ok_first = first.iter().find(|m| m.to == addr(CALLER)).unwrap();
    let ok_again = again.iter().find(|m| m.to == addr(CALLER)).unwrap();
    assert_eq!(ok_first.text, ok_again.text, "Timer J: the same 200");
    assert!(
        !again.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")),
        "leg B sees one BYE"
    );
}

#[test]
fn g4_an_unacked_refusal_is_retransmitted_then_given_up() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("g4", "z9hG4bKg4", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(486, "Busy Here", Some("bob-tag"), "", ""),
    );
    net.advance(Duration::from_secs(40));
    let sent = net.sent.clone();
    assert_eq!(
        offsets(&sent, "486", CALLER),
        [
            0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ],
        "Timer G: T1 doubling to T2, until Timer H at 64*T1"
    );
    assert_eq!(net.engine().pending_work(), PendingWork::default());
}

#[test]
fn g5_no_ack_for_the_200_hangs_up_both_legs_with_a_reason() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("g5", "z9hG4bKg5", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    net.advance(Duration::from_secs(33));
    let sent = net.take();
    let mut byes: Vec<_> = sent.iter().filter(|m| m.is("BYE")).collect();
    byes.dedup_by_key(|m| m.to);
    byes.sort_by_key(|m| m.to);
    byes.dedup_by_key(|m| m.to);
    assert_eq!(byes.len(), 2, "BYE on both legs");
    for bye in &byes {
        assert_eq!(
            bye.header("Reason"),
            Some("SIP;cause=408;text=\"ACK timeout\"")
        );
        assert_eq!(bye.at.as_millis(), 32_000);
    }
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::TimedOut);
    assert_eq!(record.ended_by, EndedBy::B2bua);
}

#[test]
fn g6_an_unanswered_bye_on_leg_b_still_ends_the_call() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "g6");
    net.send(
        CALLER,
        &caller_request("BYE", "g6", "z9hG4bKg6", 2, a_ok.to_tag().unwrap(), "", ""),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(200)),
        "leg A gets its 200 at once"
    );
    assert_eq!(net.history().len(), 1);
    net.advance(Duration::from_secs(33));
    let sent = net.take();
    assert_eq!(
        offsets(&sent, "BYE", CALLEE),
        [
            0, 1_000, 3_000, 7_000, 11_000, 15_000, 19_000, 23_000, 27_000, 31_000
        ],
        "Timer E: T1 doubling capped at T2, until Timer F"
    );
    assert_eq!(net.engine().pending_work(), PendingWork::default());
}

#[test]
fn g7_ring_timeout_cancels_leg_b_and_answers_480() {
    let text =
        r#"{ "sip": { "ring_timeout_s": 20 }, "routes": [ { "destination": "127.0.0.1:5070" } ] }"#;
    let mut net = Net::new(ValidConfig::from_json(text).unwrap());
    net.send(CALLER, &invite("g7", "z9hG4bKg7", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.take();
    net.advance(Duration::from_secs(20));
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("CANCEL")));
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(480))
    );
    net.send(
        CALLEE,
        &b_invite.reply(487, "Request Terminated", Some("bob-tag"), "", ""),
    );
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::TimedOut);
    assert_eq!(record.final_status, 480);
    assert_eq!(record.reason, "no answer (ring timeout)");
}

#[test]
fn timers_follow_the_config() {
    let config = ValidConfig::default_config().with_timers(TimerValues {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(1_000),
    });
    let mut net = Net::new(config);
    net.send(CALLER, &invite("t", "z9hG4bKt", 1, 70, "", SDP));
    net.advance(Duration::from_secs(7));
    let sent = net.take();
    assert_eq!(
        offsets(&sent, "INVITE", CALLEE),
        [0, 100, 300, 700, 1_500, 3_100, 6_300]
    );
    assert_eq!(
        sent.iter()
            .find(|m| m.status() == Some(408))
            .unwrap()
            .at
            .as_millis(),
        6_400
    );
}

/// Transactions past their last message linger in a compact form for 64·T1 (RFC 3261 Timer J,
/// RFC 6026 Timers L and M): a relayed request's final response with a body is sent again
/// byte for byte, the answered INVITE's retransmission is still absorbed (no second call), and
/// once 64·T1 has passed nothing is left.
#[test]
fn lingering_transactions_answer_as_before_and_expire() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "g5");
    let tag = a_ok.to_tag().unwrap().to_owned();
    let info = caller_request(
        "INFO",
        "g5",
        "z9hG4bKg5info",
        2,
        &tag,
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=5\r\n",
    );
    net.send(CALLER, &info);
    let b_info = net.expect_one(CALLEE, "INFO");
    net.send(
        CALLEE,
        &b_info.reply(200, "OK", None, "Content-Type: text/plain\r\n", "noted\r\n"),
    );
    let first = net.expect_one(CALLER, "200");
    assert_eq!(first.body(), b"noted\r\n");
    net.advance(Duration::from_secs(10));
    net.take();
    net.send(CALLER, &info);
    let again = net.expect_one(CALLER, "200");
    assert_eq!(again.text, first.text, "the same 200, body and all");
    // The INVITE retransmitted 10 s after the answer: absorbed, no second call, no new leg B.
    net.send(CALLER, &invite("g5", "z9hG4bKinv1", 1, 70, "", SDP));
    assert!(
        net.take()
            .iter()
            .all(|m| !(m.to == addr(CALLEE) && m.is("INVITE"))),
        "no second B-leg INVITE"
    );
    assert_eq!(net.engine().call_count(), 1);
    // A 2xx the callee sends again is ACKed again (RFC 6026 Timer M).
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    net.expect_one(CALLEE, "ACK");
    // Hang up; 64·T1 later nothing lingers.
    let bye = caller_request("BYE", "g5", "z9hG4bKg5bye", 3, &tag, "", "");
    net.send(CALLER, &bye);
    let b_bye = net.expect_one(CALLEE, "BYE");
    net.send(CALLEE, &b_bye.reply(200, "OK", None, "", ""));
    net.advance(Duration::from_secs(33));
    assert_eq!(net.engine().pending_work(), PendingWork::default());
}
