//! In-dialog re-INVITE and UPDATE, relayed with each leg's own CSeq (checklist E1, E2, E3, E5,
//! E6, E7).

mod common;

use common::*;

#[test]
fn e1_a_reinvite_from_the_caller_is_relayed_and_answered_back() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "e1");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    let hold = SDP.replace("m=audio", "a=sendonly\r\nm=audio");
    net.send(
        CALLER,
        &caller_request("INVITE", "e1", "z9hG4bKe1", 10, &a_tag, "", &hold),
    );
    let sent = net.take();
    let re = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("INVITE"))
        .unwrap();
    assert_eq!(
        re.parsed.cseq.number,
        b_invite.parsed.cseq.number + 1,
        "leg B's own CSeq"
    );
    assert_eq!(re.to_tag(), Some("bob-tag"));
    assert_eq!(re.body(), hold.as_bytes());
    net.send(CALLEE, &re.answer(None, SDP_ANSWER));
    let sent = net.take();
    let ok = sent.iter().find(|m| m.to == addr(CALLER)).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.parsed.cseq.to_string(), "10 INVITE");
    assert_eq!(ok.body(), SDP_ANSWER.as_bytes());
    assert!(sent.iter().any(|m| m.to == addr(CALLEE)
        && m.is("ACK")
        && m.parsed.cseq.number == re.parsed.cseq.number));
    net.send(CALLER, &caller_ack("e1", 10, &a_tag, ""));
    assert!(net.take().is_empty());
}

#[test]
fn e2_update_is_relayed_both_ways() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "e2");
    net.send(
        CALLEE,
        &callee_request(
            "UPDATE",
            &b_invite,
            "bob-tag",
            "z9hG4bKe2",
            3,
            "",
            SDP_ANSWER,
        ),
    );
    let update = net.expect_one(CALLER, "UPDATE");
    assert_eq!(update.tag_of_from(), a_ok.to_tag());
    net.send(
        CALLER,
        &update.reply(
            200,
            "OK",
            None,
            &format!("Contact: <sip:alice@{CALLER}>\r\n"),
            SDP,
        ),
    );
    let ok = net.expect_one(CALLEE, "200");
    assert_eq!(ok.parsed.cseq.to_string(), "3 UPDATE");
    assert_eq!(ok.body(), SDP.as_bytes());
}

#[test]
fn e3_a_reinvite_while_one_is_pending_gets_491() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "e3");
    net.send(
        CALLER,
        &caller_request(
            "INVITE",
            "e3",
            "z9hG4bKe3a",
            10,
            a_ok.to_tag().unwrap(),
            "",
            SDP,
        ),
    );
    net.take();
    net.send(
        CALLEE,
        &callee_request(
            "INVITE",
            &b_invite,
            "bob-tag",
            "z9hG4bKe3b",
            4,
            "",
            SDP_ANSWER,
        ),
    );
    let pending = net.expect_one(CALLEE, "491");
    assert_eq!(pending.parsed.cseq.to_string(), "4 INVITE");
}

#[test]
fn e5_a_refused_reinvite_leaves_the_call_up() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e5");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e5", "z9hG4bKe5", 10, &a_tag, "", SDP),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &re.reply(488, "Not Acceptable Here", None, "", ""));
    let refusal = net.expect_one(CALLER, "488");
    assert_eq!(refusal.parsed.cseq.to_string(), "10 INVITE");
    assert_eq!(net.engine().call_count(), 1, "the dialog survives");
    net.send(
        CALLER,
        &caller_request("BYE", "e5", "z9hG4bKe5bye", 11, &a_tag, "", ""),
    );
    assert!(
        net.take()
            .iter()
            .any(|m| m.to == addr(CALLEE) && m.is("BYE"))
    );
}

#[test]
fn e6_a_reinvite_answered_481_tears_the_call_down() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e6");
    net.send(
        CALLER,
        &caller_request(
            "INVITE",
            "e6",
            "z9hG4bKe6",
            10,
            a_ok.to_tag().unwrap(),
            "",
            SDP,
        ),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &re.reply(481, "Call/Transaction Does Not Exist", None, "", ""),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(481))
    );
    assert!(sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")));
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    assert_eq!(net.history().len(), 1);
}

#[test]
fn e7_an_offerless_reinvite_carries_the_answer_in_the_acks() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e7");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e7", "z9hG4bKe7", 10, &a_tag, "", ""),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    assert!(re.body().is_empty());
    net.send(CALLEE, &re.answer(None, SDP_ANSWER));
    let sent = net.take();
    assert!(
        !sent.iter().any(|m| m.is("ACK")),
        "leg B's ACK waits for the caller's answer"
    );
    net.send(CALLER, &caller_ack("e7", 10, &a_tag, SDP));
    let ack = net.expect_one(CALLEE, "ACK");
    assert_eq!(ack.body(), SDP.as_bytes());
}

#[test]
fn e4_a_second_invite_before_the_first_is_answered_gets_500_with_retry_after() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e4");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e4", "z9hG4bKe4a", 10, &a_tag, "", SDP),
    );
    let first = net.take();
    assert!(
        first
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(100)),
        "a re-INVITE gets 100 Trying at once"
    );
    net.send(
        CALLER,
        &caller_request("INVITE", "e4", "z9hG4bKe4b", 11, &a_tag, "", SDP),
    );
    let refused = net.expect_one(CALLER, "500");
    assert_eq!(refused.parsed.cseq.to_string(), "11 INVITE");
    assert!(refused.header("Retry-After").is_some());
}

#[test]
fn a_reinvite_cancelled_while_the_callee_accepts_it_ends_the_call_on_both_legs() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e8");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e8", "z9hG4bKe8", 10, &a_tag, "", SDP),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &re.reply(100, "Trying", None, "", ""));
    let cancel = caller_request("CANCEL", "e8", "z9hG4bKe8", 10, &a_tag, "", "");
    net.send(CALLER, &cancel);
    net.take();
    net.send(CALLEE, &re.answer(None, SDP_ANSWER));
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("ACK")));
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    assert!(
        sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")),
        "leg A is hung up too"
    );
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a_reinvite_left_ringing_is_cancelled_after_64_t1() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e9");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e9", "z9hG4bKe9", 10, &a_tag, "", SDP),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &re.reply(180, "Ringing", None, "", ""));
    net.take();
    net.advance(std::time::Duration::from_secs(33));
    let sent = net.take();
    let cancel = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("CANCEL"))
        .expect("CANCEL on leg B");
    assert_eq!(cancel.branch(), re.branch());
    // Not 408, which would tell the caller to end a dialog that is alive (RFC 3261
    // §12.2.1.2).
    let timeout = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(500))
        .expect("500 on leg A");
    assert_eq!(timeout.parsed.cseq.to_string(), "10 INVITE");
    assert!(!sent.iter().any(|m| m.status() == Some(408)));
    assert_eq!(
        net.engine().call_count(),
        1,
        "a re-INVITE that timed out leaves the call up"
    );
}

#[test]
fn a_2xx_that_arrives_after_the_call_ended_is_acked_and_hung_up() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e10");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e10", "z9hG4bKe10", 10, &a_tag, "", SDP),
    );
    let re = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLER,
        &caller_request("BYE", "e10", "z9hG4bKe10bye", 11, &a_tag, "", ""),
    );
    net.take();
    assert_eq!(net.engine().call_count(), 0);
    net.send(CALLEE, &re.answer(None, SDP_ANSWER));
    let sent = net.take();
    let ack = sent
        .iter()
        .find(|m| m.is("ACK"))
        .expect("the late 2xx is ACKed");
    assert_eq!(ack.parsed.cseq.number, re.parsed.cseq.number);
    assert_eq!(ack.to, addr(CALLEE));
    assert!(sent.iter().any(|m| m.is("BYE") && m.to == addr(CALLEE)));
}
