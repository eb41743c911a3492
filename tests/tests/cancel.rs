//! CANCEL (checklist C1–C5).

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::status::{EndedBy, Outcome};

#[test]
fn c1_cancel_before_any_callee_provisional_waits_for_one() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c1", "z9hG4bKc1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLER, &cancel("c1", "z9hG4bKc1", 1));
    let sent = net.take();
    let to_caller: Vec<_> = sent
        .iter()
        .filter(|m| m.to == addr(CALLER))
        .map(|m| (m.status(), m.parsed.cseq.method.to_string()))
        .collect();
    assert_eq!(
        to_caller,
        [
            (Some(200), "CANCEL".to_owned()),
            (Some(487), "INVITE".to_owned())
        ]
    );
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLEE)),
        "no CANCEL on B before a provisional"
    );
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    let cancel_b = net.expect_one(CALLEE, "CANCEL");
    assert_eq!(cancel_b.branch(), b_invite.branch());
    assert_eq!(cancel_b.parsed.cseq.number, b_invite.parsed.cseq.number);
    net.send(CALLEE, &cancel_b.reply(200, "OK", Some("bob-tag"), "", ""));
    net.send(
        CALLEE,
        &b_invite.reply(487, "Request Terminated", Some("bob-tag"), "", ""),
    );
    let ack = net.expect_one(CALLEE, "ACK");
    assert_eq!(ack.branch(), b_invite.branch());
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::Cancelled);
    assert_eq!(record.ended_by, EndedBy::Caller);
    assert_eq!(record.final_status, 487);
}

#[test]
fn c1_a_callee_that_never_answers_times_out_after_the_cancel() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c1b", "z9hG4bKc1b", 1, 70, "", SDP));
    net.send(CALLER, &cancel("c1b", "z9hG4bKc1b", 1));
    net.take();
    net.advance(Duration::from_secs(40));
    assert!(!net.take().iter().any(|m| m.is("CANCEL")));
    assert_eq!(net.history().len(), 1);
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn c2_cancel_after_ringing_goes_to_leg_b_at_once() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c2", "z9hG4bKc2", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.take();
    net.send(CALLER, &cancel("c2", "z9hG4bKc2", 1));
    let sent = net.take();
    let cancel_b = sent
        .iter()
        .find(|m| m.to == addr(CALLEE))
        .expect("CANCEL on leg B");
    assert!(cancel_b.is("CANCEL"));
    assert_eq!(cancel_b.branch(), b_invite.branch());
    assert_eq!(
        cancel_b.parsed.cseq.to_string(),
        format!("{} CANCEL", b_invite.parsed.cseq.number)
    );
    assert_eq!(
        cancel_b.start_line(),
        b_invite.start_line().replace("INVITE", "CANCEL")
    );
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(487))
    );
    net.send(
        CALLEE,
        &b_invite.reply(487, "Request Terminated", Some("bob-tag"), "", ""),
    );
    assert_eq!(net.expect_one(CALLEE, "ACK").to_tag(), Some("bob-tag"));
}

#[test]
fn c3_cancel_and_200_crossing_acks_and_hangs_up_leg_b() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c3", "z9hG4bKc3", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.send(CALLER, &cancel("c3", "z9hG4bKc3", 1));
    net.take();
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let sent = net.take();
    let to_callee: Vec<_> = sent
        .iter()
        .filter(|m| m.to == addr(CALLEE))
        .map(|m| m.method().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(to_callee, ["ACK", "BYE"]);
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLER)),
        "leg A stays at 487"
    );
    let record = &net.history()[0];
    assert_eq!(record.outcome, Outcome::Cancelled);
    assert_eq!(record.final_status, 487);
}

#[test]
fn c4_cancel_without_a_transaction_gets_481() {
    let mut net = Net::new(config());
    net.send(CALLER, &cancel("nothing", "z9hG4bKnone", 1));
    let sent = net.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), Some(481));
}

#[test]
fn c5_cancel_matches_by_branch_even_when_the_source_port_changed() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c5", "z9hG4bKc5", 1, 70, "", SDP));
    net.take();
    // Same Via (branch and sent-by), new NAT binding: a different source port.
    net.send("127.0.0.1:6000", &cancel("c5", "z9hG4bKc5", 1));
    let sent = net.take();
    let ok = sent
        .iter()
        .find(|m| m.parsed.cseq.method.as_str() == "CANCEL")
        .unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.to,
        addr("127.0.0.1:6000"),
        "rport answers the new binding"
    );
    assert!(sent.iter().any(|m| m.status() == Some(487)));
}

#[test]
fn a_cancelled_invite_with_no_final_response_is_given_up_after_64_t1() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c6", "z9hG4bKc6", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.send(CALLER, &cancel("c6", "z9hG4bKc6", 1));
    net.take();
    // The callee answers nothing: neither the CANCEL nor the INVITE.
    net.advance(Duration::from_secs(31));
    assert_eq!(net.engine().call_count(), 1);
    net.advance(Duration::from_secs(2));
    assert_eq!(
        net.engine().call_count(),
        0,
        "RFC 3261 §9.1: given up 64*T1 after the CANCEL"
    );
    assert_eq!(net.history()[0].outcome, Outcome::Cancelled);
    net.advance(Duration::from_secs(40));
    assert_eq!(
        net.engine().pending_work(),
        PendingWork::default(),
        "no transaction or timer left"
    );
}

#[test]
fn a_cancel_after_the_final_response_gets_200_and_changes_nothing() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c7", "z9hG4bKc7", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(486, "Busy Here", Some("bob-tag"), "", ""),
    );
    net.take();
    net.send(CALLER, &cancel("c7", "z9hG4bKc7", 1));
    let sent = net.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].status(), Some(200));
    assert_eq!(sent[0].parsed.cseq.to_string(), "1 CANCEL");
}
