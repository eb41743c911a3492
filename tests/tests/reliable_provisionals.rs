//! Reliable provisional responses (RFC 3262), hop by hop: TwoLeg PRACKs the callee's reliable
//! provisionals on leg B once per RSeq, sends its own reliably on leg A when the caller supports
//! or requires `100rel` (retransmitted until the caller's PRACK), holds a 2xx until the PRACK of
//! a provisional with SDP, and gives up after 64·T1 without one.

mod common;

use std::time::Duration;

use common::*;

fn ringing(b_invite: &Msg, extra: &str, body: &str) -> String {
    let headers = format!("Contact: <sip:bob@{CALLEE}>\r\n{extra}");
    b_invite.reply(183, "Session Progress", Some("bob-tag"), &headers, body)
}

fn prack(call_id: &str, to_tag: &str, cseq: u32, rack: &str) -> String {
    caller_request(
        "PRACK",
        call_id,
        &format!("z9hG4bKpr{cseq}"),
        cseq,
        to_tag,
        &format!("RAck: {rack}\r\n"),
        "",
    )
}

#[test]
fn a_caller_that_requires_100rel_gets_reliable_provisionals_until_it_pracks() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("rl1", "z9hG4bKrl1", 1, 70, "Require: 100rel\r\n", SDP),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert!(b_invite.header("Supported").unwrap().contains("100rel"));
    net.take();
    net.send(CALLEE, &ringing(&b_invite, "", SDP_ANSWER));
    let early = net.expect_one(CALLER, "183");
    assert_eq!(early.header("Require"), Some("100rel"));
    let rseq: u32 = early.header("RSeq").unwrap().parse().unwrap();
    // Not PRACKed: again at T1, then 2·T1 later.
    net.advance(Duration::from_millis(500));
    assert_eq!(
        net.expect_one(CALLER, "183").header("RSeq"),
        Some(rseq.to_string().as_str())
    );
    net.advance(Duration::from_millis(1_000));
    net.expect_one(CALLER, "183");
    // A PRACK for another RSeq: 481; the right one: 200, and the retransmissions stop.
    let tag = early.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &prack("rl1", &tag, 2, &format!("{} 1 INVITE", rseq + 5)),
    );
    assert_eq!(net.expect_one(CALLER, "481").status(), Some(481));
    net.send(CALLER, &prack("rl1", &tag, 3, &format!("{rseq} 1 INVITE")));
    let sent = net.take();
    let oks: Vec<&Msg> = sent.iter().filter(|m| m.status() == Some(200)).collect();
    assert_eq!(oks.len(), 1, "{sent:#?}");
    assert_eq!(oks[0].parsed.cseq.to_string(), "3 PRACK");
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLEE)),
        "the caller's PRACK stays on leg A"
    );
    net.advance(Duration::from_secs(8));
    assert!(net.take_to(CALLER).is_empty(), "no more retransmissions");
    // The answer goes through.
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    net.expect_one(CALLER, "200");
}

#[test]
fn the_callees_reliable_provisional_is_pracked_once_and_relayed_once() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("rl2", "z9hG4bKrl2", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.take();
    let reliable = ringing(&b_invite, "Require: 100rel\r\nRSeq: 7\r\n", SDP_ANSWER);
    net.send(CALLEE, &reliable);
    let sent = net.take();
    let prack = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("PRACK"))
        .expect("PRACK on leg B");
    assert_eq!(
        prack.header("RAck"),
        Some(format!("7 {} INVITE", b_invite.parsed.cseq.number).as_str())
    );
    assert_eq!(prack.to_tag(), Some("bob-tag"));
    let early = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(183))
        .expect("the 183 on leg A");
    assert_eq!(
        early.header("RSeq"),
        None,
        "plain: the caller named no 100rel"
    );
    assert!(!early.body().is_empty(), "early media SDP");
    // Its retransmission: neither PRACKed nor relayed again.
    net.send(CALLEE, &reliable);
    assert!(
        net.take()
            .iter()
            .all(|m| !m.is("PRACK") && m.status() != Some(183))
    );
    net.send(CALLEE, &prack.reply(200, "OK", None, "", ""));
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    net.expect_one(CALLER, "200");
}

#[test]
fn a_2xx_waits_for_the_prack_of_a_provisional_with_sdp() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("rl3", "z9hG4bKrl3", 1, 70, "Supported: 100rel\r\n", SDP),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &ringing(&b_invite, "", SDP_ANSWER));
    let early = net.expect_one(CALLER, "183");
    let rseq = early.header("RSeq").unwrap().to_owned();
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let sent = net.take_to(CALLER);
    assert!(
        !sent.iter().any(|m| m.status() == Some(200)),
        "no 200 before the PRACK: {sent:#?}"
    );
    let tag = early.to_tag().unwrap().to_owned();
    net.send(CALLER, &prack("rl3", &tag, 2, &format!("{rseq} 1 INVITE")));
    let sent = net.take_to(CALLER);
    assert!(
        sent.iter()
            .any(|m| m.status() == Some(200) && m.parsed.cseq.to_string() == "2 PRACK")
    );
    let ok = sent
        .iter()
        .find(|m| m.status() == Some(200) && m.parsed.cseq.to_string() == "1 INVITE")
        .expect("then the 200 to the INVITE");
    assert_eq!(ok.to_tag(), Some(tag.as_str()));
}

#[test]
fn no_prack_in_64_t1_refuses_the_call_and_cancels_leg_b() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("rl4", "z9hG4bKrl4", 1, 70, "Require: 100rel\r\n", SDP),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &b_invite.reply(180, "Ringing", Some("bob-tag"), "", ""),
    );
    net.take();
    net.advance(Duration::from_secs(33));
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("CANCEL")));
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(500))
    );
}

#[test]
fn a_retransmitted_2xx_waits_with_the_held_one_and_a_late_offer_call_offers_no_100rel() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("rl5", "z9hG4bKrl5", 1, 70, "Supported: 100rel\r\n", SDP),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &ringing(&b_invite, "", SDP_ANSWER));
    let early = net.expect_one(CALLER, "183");
    let answer = b_invite.answer(Some("bob-tag"), SDP_ANSWER);
    net.send(CALLEE, &answer);
    net.send(CALLEE, &answer);
    assert!(
        !net.take_to(CALLER).iter().any(|m| m.status() == Some(200)),
        "neither copy of the 2xx before the PRACK"
    );
    let tag = early.to_tag().unwrap().to_owned();
    let rseq = early.header("RSeq").unwrap().to_owned();
    net.send(CALLER, &prack("rl5", &tag, 2, &format!("{rseq} 1 INVITE")));
    let sent = net.take_to(CALLER);
    assert_eq!(
        sent.iter()
            .filter(|m| m.status() == Some(200) && m.parsed.cseq.to_string() == "1 INVITE")
            .count(),
        1
    );
    // An INVITE without an offer: leg B is not offered 100rel (its offer in a reliable
    // provisional would need TwoLeg's answer in the PRACK).
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("rl6", "z9hG4bKrl6", 1, 70, "Supported: 100rel\r\n", ""),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert_eq!(b_invite.header("Supported"), Some("timer"));
}
