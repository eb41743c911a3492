//! Basic INVITE through the B2BUA (checklist B1–B8): both legs, message by message.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::status::{EndedBy, Outcome};

#[test]
fn b1_100_trying_at_once_and_never_relayed() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("b1", "z9hG4bKb1", 1, 70, "", SDP));
    let sent = net.take();
    assert_eq!(sent[0].to, addr(CALLER));
    assert_eq!(sent[0].status(), Some(100));
    assert_eq!(sent[0].at, net.now(), "100 Trying goes out at once");
    assert!(sent[0].to_tag().is_none());
    let b_invite = sent.iter().find(|m| m.is("INVITE")).unwrap();
    net.send(CALLEE, &b_invite.reply(100, "Trying", None, "", ""));
    assert!(net.take().is_empty(), "the callee's 100 is not relayed");
}

#[test]
fn b2_b3_ringing_and_answer_map_onto_leg_a_with_its_own_tag() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("b2", "z9hG4bKb2", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(
            180,
            "Ringing",
            Some("bob-tag"),
            &format!("Contact: <sip:bob@{CALLEE}>\r\n"),
            "",
        ),
    );
    let ringing = net.expect_one(CALLER, "180");
    let a_tag = ringing
        .to_tag()
        .expect("180 carries TwoLeg's A-leg tag")
        .to_owned();
    assert_ne!(a_tag, "bob-tag");
    assert_eq!(ringing.parsed.call_id, "b2");
    assert_eq!(ringing.branch(), "z9hG4bKb2");

    net.send(
        CALLEE,
        &b_invite.reply(
            183,
            "Session Progress",
            Some("bob-tag"),
            &format!("Contact: <sip:bob@{CALLEE}>\r\n"),
            SDP_ANSWER,
        ),
    );
    let progress = net.expect_one(CALLER, "183");
    assert_eq!(progress.to_tag(), Some(a_tag.as_str()));
    assert_eq!(
        progress.body(),
        SDP_ANSWER.as_bytes(),
        "early media SDP passes through"
    );

    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let sent = net.take();
    let ack = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("ACK"))
        .expect("ACK on leg B");
    let ok = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .expect("200 on leg A");
    // B3: the ACK has a new branch, the INVITE's CSeq number, the callee's tag, its Contact as target.
    assert_ne!(ack.branch(), b_invite.branch());
    assert_eq!(ack.parsed.cseq.number, b_invite.parsed.cseq.number);
    assert_eq!(ack.to_tag(), Some("bob-tag"));
    assert_eq!(ack.start_line(), format!("ACK sip:bob@{CALLEE} SIP/2.0"));
    assert_eq!(ok.to_tag(), Some(a_tag.as_str()));
    assert_eq!(ok.body(), SDP_ANSWER.as_bytes());
    assert_eq!(
        ok.header("Contact"),
        Some(format!("<sip:twoleg@{B2BUA}>").as_str())
    );
}

#[test]
fn b4_leg_a_200_is_retransmitted_until_the_ack() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("b4", "z9hG4bKb4", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let first = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .unwrap();
    let start = first.at;
    net.advance(Duration::from_millis(15_600));
    let resent: Vec<u64> = net
        .take_to(CALLER)
        .iter()
        .filter(|m| m.status() == Some(200))
        .map(|m| m.at.saturating_since(start).as_millis() as u64)
        .collect();
    // T1 = 500 ms, doubling to T2 = 4 s: 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 s after the first.
    assert_eq!(resent, [500, 1_500, 3_500, 7_500, 11_500, 15_500]);
    let tag = first.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("b4", 1, &tag, ""));
    net.advance(Duration::from_secs(10));
    assert!(
        net.take_to(CALLER).is_empty(),
        "the ACK stops the retransmissions"
    );
}

#[test]
fn b5_a_retransmitted_200_from_the_callee_is_acked_again() {
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "b5");
    let ok = b_invite.reply(
        200,
        "OK",
        Some("bob-tag"),
        &format!("Contact: <sip:bob@{CALLEE}>\r\n"),
        SDP_ANSWER,
    );
    net.send(CALLEE, &ok);
    let again = net.expect_one(CALLEE, "ACK");
    assert_eq!(again.parsed.cseq.number, b_invite.parsed.cseq.number);
    assert!(net.take_to(CALLER).is_empty(), "leg A is not bothered");
}

#[test]
fn b6_late_offer_the_answer_rides_from_leg_a_ack_to_leg_b_ack() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("b6", "z9hG4bKb6", 1, 70, "", ""));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert!(b_invite.body().is_empty());
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP));
    let sent = net.take();
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLEE) && m.is("ACK")),
        "leg B's ACK waits for the answer"
    );
    let ok = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .unwrap();
    assert_eq!(
        ok.body(),
        SDP.as_bytes(),
        "the offer goes to the caller in the 200"
    );
    let tag = ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("b6", 1, &tag, SDP_ANSWER));
    let ack = net.expect_one(CALLEE, "ACK");
    assert_eq!(ack.body(), SDP_ANSWER.as_bytes());
    assert_eq!(ack.header("Content-Type"), Some("application/sdp"));
}

#[test]
fn b7_a_second_fork_answering_is_acked_and_hung_up() {
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "b7");
    let fork = b_invite.reply(
        200,
        "OK",
        Some("fork-tag"),
        "Contact: <sip:fork@127.0.0.1:5071>\r\n",
        SDP_ANSWER,
    );
    net.send(CALLEE, &fork);
    let sent = net.take();
    let to_fork: Vec<_> = sent
        .iter()
        .filter(|m| m.to_tag() == Some("fork-tag"))
        .collect();
    assert_eq!(to_fork.len(), 2, "{sent:#?}");
    assert!(to_fork[0].is("ACK"));
    assert!(to_fork[1].is("BYE"));
    assert_eq!(to_fork[1].to, addr("127.0.0.1:5071"));
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLER)),
        "leg A is unaffected"
    );
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn b8_a_refusal_is_acked_on_leg_b_and_mapped_to_leg_a() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("b8", "z9hG4bKb8", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(486, "Busy Here", Some("bob-tag"), "", ""),
    );
    let sent = net.take();
    let ack = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("ACK"))
        .expect("ACK on leg B");
    assert_eq!(
        ack.branch(),
        b_invite.branch(),
        "a non-2xx ACK reuses the INVITE's branch"
    );
    assert_eq!(ack.to_tag(), Some("bob-tag"));
    let busy = sent
        .iter()
        .find(|m| m.to == addr(CALLER))
        .expect("a final on leg A");
    assert_eq!(busy.status(), Some(486));
    let a_tag = busy.to_tag().unwrap().to_owned();
    assert_ne!(a_tag, "bob-tag");
    // The caller's ACK is absorbed: the 486 is not retransmitted any more.
    net.send(
        CALLER,
        &caller_request("ACK", "b8", "z9hG4bKb8", 1, &a_tag, "", ""),
    );
    net.advance(Duration::from_secs(40));
    assert!(net.take().is_empty());
    let history = net.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].final_status, 486);
    assert_eq!(history[0].outcome, Outcome::Rejected);
    assert_eq!(history[0].ended_by, EndedBy::Callee);
    assert_eq!(
        net.engine().pending_work(),
        PendingWork::default(),
        "nothing is left once the timers ran out"
    );
}
