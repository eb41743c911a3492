//! RFC 3261 details of dialogs and transactions that a strict peer notices (the protocol
//! review's findings): Max-Forwards only on what is forwarded, Timestamp in 100 Trying, the
//! CANCEL's To-tag, a random Retry-After, no 408 where it would end a live dialog or where RFC
//! 4320 forbids it, the reasons a BYE or CANCEL carries, 3xx alternatives, and Allow.

mod common;

use std::time::Duration;

use common::*;

fn options(max_forwards: u32) -> String {
    format!(
        "OPTIONS sip:twoleg@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKmf0;rport\r\n\
         Max-Forwards: {max_forwards}\r\n\
         From: <sip:monitor@example.com>;tag=m1\r\n\
         To: <sip:twoleg@127.0.0.1>\r\n\
         Call-ID: mf0\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn max_forwards_zero_is_refused_only_on_what_twoleg_would_forward() {
    let mut net = Net::new(config());
    // An OPTIONS to TwoLeg itself (a health check that no hop may forward): answered.
    net.send(CALLER, &options(0));
    assert_eq!(net.expect_one(CALLER, "200").status(), Some(200));
    // An INVITE would be forwarded: 483, no leg B.
    net.send(CALLER, &invite("mf1", "z9hG4bKmf1", 1, 0, "", SDP));
    let sent = net.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].status(), Some(483));
    // A BYE is answered by TwoLeg (which sends its own BYE on the other leg): it ends the call.
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "mf2");
    let tag = a_ok.to_tag().unwrap().to_owned();
    let bye = caller_request("BYE", "mf2", "z9hG4bKmf2b", 2, &tag, "", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    net.send(CALLER, &bye);
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(200))
    );
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    assert_eq!(net.engine().call_count(), 0);
    // An in-dialog re-INVITE would be forwarded: 483.
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "mf3");
    let tag = a_ok.to_tag().unwrap().to_owned();
    let reinvite = caller_request("INVITE", "mf3", "z9hG4bKmf3r", 2, &tag, "", SDP)
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    net.send(CALLER, &reinvite);
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(483))
    );
    assert!(!sent.iter().any(|m| m.to == addr(CALLEE)), "not forwarded");
}

#[test]
fn the_100_trying_copies_the_timestamp_of_the_invite() {
    let mut net = Net::new(config());
    let extra = "Timestamp: 54.231 0.5\r\n";
    net.send(CALLER, &invite("ts1", "z9hG4bKts1", 1, 70, extra, SDP));
    let trying = net.expect_one(CALLER, "100");
    assert_eq!(trying.header("Timestamp"), Some("54.231 0.5"));
}

#[test]
fn the_200_to_a_cancel_carries_the_to_tag_of_the_487() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("ct1", "z9hG4bKct1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.reply(180, "Ringing", Some("bob"), "", ""));
    net.take();
    net.send(CALLER, &cancel("ct1", "z9hG4bKct1", 1));
    let sent = net.take_to(CALLER);
    let ok = sent.iter().find(|m| m.status() == Some(200)).expect("200");
    assert_eq!(ok.parsed.cseq.to_string(), "1 CANCEL");
    let terminated = sent.iter().find(|m| m.status() == Some(487)).expect("487");
    assert!(ok.to_tag().is_some());
    assert_eq!(ok.to_tag(), terminated.to_tag());
}

#[test]
fn the_retry_after_of_a_500_to_a_second_reinvite_is_drawn_from_0_to_10_seconds() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..24 {
        let mut net = Net::with_seed(config(), seed);
        let (a_ok, _) = answered_call(&mut net, "ra1");
        let tag = a_ok.to_tag().unwrap().to_owned();
        net.send(
            CALLER,
            &caller_request("INVITE", "ra1", "z9hG4bKra1", 2, &tag, "", SDP),
        );
        net.take();
        net.send(
            CALLER,
            &caller_request("INVITE", "ra1", "z9hG4bKra2", 3, &tag, "", SDP),
        );
        let refused = net.expect_one(CALLER, "500");
        let retry: u32 = refused.header("Retry-After").unwrap().parse().unwrap();
        assert!(retry <= 10, "{retry}");
        seen.insert(retry);
    }
    assert!(seen.len() >= 4, "random, not fixed: {seen:?}");
}

#[test]
fn an_info_the_callee_never_answers_gets_no_408_and_the_call_stays_up() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "nf1");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INFO", "nf1", "z9hG4bKnf1", 2, &tag, "", ""),
    );
    net.expect_one(CALLEE, "INFO");
    net.advance(Duration::from_secs(40));
    let sent = net.take_to(CALLER);
    // RFC 4320 §4.1: no 408 to a non-INVITE request.
    assert!(
        !sent.iter().any(|m| m.status().is_some()),
        "nothing answers the INFO: {sent:#?}"
    );
    assert_eq!(net.engine().call_count(), 1);
    // The server transaction is gone, not leaked.
    net.send(
        CALLER,
        &caller_request("BYE", "nf1", "z9hG4bKnf1b", 3, &tag, "", ""),
    );
    net.advance(Duration::from_secs(40));
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn reason_and_ms_diagnostics_travel_with_a_bye_both_ways() {
    let mut net = Net::new(config());
    let why = "Reason: Q.850;cause=17;text=\"User busy\"\r\n\
               ms-diagnostics: 51004;reason=\"Action initiated by user\"\r\n";
    // From the caller to the callee.
    let (a_ok, _) = answered_call(&mut net, "rb1");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "rb1", "z9hG4bKrb1", 2, &tag, why, ""),
    );
    let bye = net.expect_one(CALLEE, "BYE");
    assert_eq!(
        bye.header("Reason"),
        Some("Q.850;cause=17;text=\"User busy\"")
    );
    assert_eq!(
        bye.header("ms-diagnostics"),
        Some("51004;reason=\"Action initiated by user\"")
    );
    // From the callee to the caller.
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "rb2");
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKrb2", 1, why, ""),
    );
    let bye = net.expect_one(CALLER, "BYE");
    assert_eq!(
        bye.header("Reason"),
        Some("Q.850;cause=17;text=\"User busy\"")
    );
    assert!(bye.header("ms-diagnostics").is_some());
    // A BYE without them carries none.
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "rb3");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "rb3", "z9hG4bKrb3", 2, &tag, "", ""),
    );
    assert_eq!(net.expect_one(CALLEE, "BYE").header("Reason"), None);
}

#[test]
fn the_reason_of_a_cancel_travels_with_the_cancel_sent_and_the_deferred_one() {
    let mut net = Net::new(config());
    let why = "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n";
    let with_reason = |call_id: &str, branch: &str| {
        cancel(call_id, branch, 1).replace("Content-Length: 0", &format!("{why}Content-Length: 0"))
    };
    // After the callee's provisional: the CANCEL goes at once.
    net.send(CALLER, &invite("rc1", "z9hG4bKrc1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.reply(180, "Ringing", Some("bob"), "", ""));
    net.take();
    net.send(CALLER, &with_reason("rc1", "z9hG4bKrc1"));
    let sent = net.expect_one(CALLEE, "CANCEL");
    assert_eq!(
        sent.header("Reason"),
        Some("SIP;cause=200;text=\"Call completed elsewhere\"")
    );
    // Before it: the CANCEL waits for the provisional, and keeps the reason.
    net.send(CALLER, &invite("rc2", "z9hG4bKrc2", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLER, &with_reason("rc2", "z9hG4bKrc2"));
    assert!(
        net.take_to(CALLEE).is_empty(),
        "no CANCEL before a provisional"
    );
    net.send(CALLEE, &b_invite.reply(100, "Trying", None, "", ""));
    let deferred = net.expect_one(CALLEE, "CANCEL");
    assert!(
        deferred
            .header("Reason")
            .unwrap()
            .contains("completed elsewhere")
    );
}

#[test]
fn a_302_reaches_the_caller_with_the_callees_contacts() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("rd1", "z9hG4bKrd1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    let contacts = "Contact: <sip:voicemail@10.0.0.9>;q=0.7\r\nContact: <sip:bob@10.0.0.10>\r\n";
    net.send(
        CALLEE,
        &b_invite.reply(302, "Moved Temporarily", Some("bob"), contacts, ""),
    );
    let moved = net.expect_one(CALLER, "302");
    let relayed = moved.headers("Contact");
    assert_eq!(relayed.len(), 2, "{relayed:?}");
    assert!(relayed[0].contains("sip:voicemail@10.0.0.9"));
    assert!(relayed[1].contains("sip:bob@10.0.0.10"));
}

#[test]
fn allow_is_advertised_as_what_twoleg_relays_of_what_the_peer_allows() {
    let mut net = Net::new(config());
    let allow = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, SUBSCRIBE, NOTIFY\r\n";
    net.send(CALLER, &invite("al1", "z9hG4bKal1", 1, 70, allow, SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert_eq!(
        b_invite.header("Allow"),
        Some("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, NOTIFY"),
        "the caller's methods TwoLeg relays, not REFER/SUBSCRIBE (405 here)"
    );
    let callee_allow = format!(
        "Contact: <sip:bob@{CALLEE}>\r\nAllow: INVITE, ACK, BYE, CANCEL, INFO, SUBSCRIBE\r\n"
    );
    net.send(
        CALLEE,
        &b_invite.reply(200, "OK", Some("bob"), &callee_allow, SDP_ANSWER),
    );
    let ok = net.expect_one(CALLER, "200");
    assert_eq!(ok.header("Allow"), Some("INVITE, ACK, BYE, CANCEL, INFO"));
    // A peer that names no methods: TwoLeg's own list.
    net.send(CALLER, &invite("al2", "z9hG4bKal2", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    let own = b_invite.header("Allow").expect("Allow");
    for method in [
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO",
    ] {
        assert!(own.contains(method), "{own}");
    }
}

#[test]
fn a_strict_router_in_the_route_set_is_the_request_uri_and_the_contact_goes_last() {
    let mut net = Net::new(config());
    // The caller's proxy record-routes as a strict router (no `lr`).
    let extra = "Record-Route: <sip:127.0.0.9:5060>\r\n";
    net.send(CALLER, &invite("sr1", "z9hG4bKsr1", 1, 70, extra, SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b.answer(Some("bob-tag"), SDP_ANSWER));
    let ok = net.expect_one(CALLER, "200");
    let a_tag = ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("sr1", 1, &a_tag, ""));
    net.take();
    net.send(
        CALLEE,
        &callee_request("BYE", &b, "bob-tag", "z9hG4bKsr1b", 1, "", ""),
    );
    let bye = net.expect_one("127.0.0.9:5060", "BYE");
    assert_eq!(bye.start_line(), "BYE sip:127.0.0.9:5060 SIP/2.0");
    assert_eq!(bye.headers("Route"), [format!("<sip:alice@{CALLER}>")]);
}

#[test]
fn the_contact_of_an_update_2xx_is_the_new_remote_target() {
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "up1");
    net.send(
        CALLEE,
        &callee_request(
            "UPDATE",
            &b_invite,
            "bob-tag",
            "z9hG4bKup1",
            1,
            "",
            SDP_ANSWER,
        ),
    );
    let update = net.expect_one(CALLER, "UPDATE");
    let moved = "Contact: <sip:alice@127.0.0.77:5080>\r\n";
    net.send(CALLER, &update.reply(200, "OK", None, moved, SDP));
    net.expect_one(CALLEE, "200");
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKup2", 2, "", ""),
    );
    let bye = net.expect_one("127.0.0.77:5080", "BYE");
    assert_eq!(bye.start_line(), "BYE sip:alice@127.0.0.77:5080 SIP/2.0");
}

#[test]
fn a_2xx_without_record_route_leaves_leg_b_without_the_provisionals_route_set() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("rr1", "z9hG4bKrr1", 1, 70, "", SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    let early = format!("Record-Route: <sip:127.0.0.1:5071;lr>\r\nContact: <sip:bob@{CALLEE}>\r\n");
    net.send(
        CALLEE,
        &b.reply(183, "Session Progress", Some("bob-tag"), &early, SDP_ANSWER),
    );
    net.send(CALLEE, &b.answer(Some("bob-tag"), SDP_ANSWER));
    let ack = net.expect_one(CALLEE, "ACK");
    assert!(
        ack.headers("Route").is_empty(),
        "{:?}",
        ack.headers("Route")
    );
}

#[test]
fn a_bye_from_another_fork_gets_481_and_leaves_the_answered_call_up() {
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "fk1");
    // Same Call-ID and TwoLeg's tag, but the From-tag of a fork that did not answer.
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "other-fork", "z9hG4bKfk1", 1, "", ""),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLEE) && m.status() == Some(481))
    );
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLER)),
        "leg A is untouched"
    );
    assert_eq!(net.engine().call_count(), 1);
    // The answered fork's BYE ends it.
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKfk2", 2, "", ""),
    );
    net.expect_one(CALLER, "BYE");
    assert_eq!(net.engine().call_count(), 0);
}

/// A late-offer call (the INVITE without SDP, the callee's 200 with the offer) up to the 200
/// on leg A: returns (A-leg 200, B-leg INVITE).
fn late_offer_answered(net: &mut Net, call_id: &str) -> (Msg, Msg) {
    net.send(CALLER, &invite(call_id, "z9hG4bKlo1", 1, 70, "", ""));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert!(b_invite.body().is_empty());
    let offer = "v=0\r\no=callee 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 40002 RTP/AVP 0 8\r\nm=video 40004 RTP/AVP 96\r\n";
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), offer));
    let ok = net.expect_one(CALLER, "200");
    assert!(!ok.body().is_empty(), "the offer goes on to the caller");
    (ok, b_invite)
}

fn declines_everything(ack: &Msg) {
    assert_eq!(ack.header("Content-Type"), Some("application/sdp"));
    let body = String::from_utf8_lossy(ack.body()).into_owned();
    let lines: Vec<&str> = body.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        lines,
        ["m=audio 0 RTP/AVP 0 8", "m=video 0 RTP/AVP 96"],
        "{body}"
    );
}

#[test]
fn a_late_offer_ack_declines_the_offer_when_the_caller_hangs_up_before_its_ack() {
    let mut net = Net::new(config());
    let (ok, _) = late_offer_answered(&mut net, "lo1");
    let tag = ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "lo1", "z9hG4bKlo1b", 2, &tag, "", ""),
    );
    let sent = net.take_to(CALLEE);
    let ack = sent.iter().find(|m| m.is("ACK")).expect("ACK on leg B");
    declines_everything(ack);
    assert!(sent.iter().any(|m| m.is("BYE")), "then BYE");
}

#[test]
fn a_late_offer_ack_declines_the_offer_when_the_callers_ack_never_comes() {
    let mut net = Net::new(config());
    late_offer_answered(&mut net, "lo2");
    net.advance(Duration::from_secs(33));
    let sent = net.take_to(CALLEE);
    let ack = sent.iter().find(|m| m.is("ACK")).expect("ACK on leg B");
    declines_everything(ack);
    assert!(sent.iter().any(|m| m.is("BYE")), "then BYE");
}

#[test]
fn each_callee_fork_gets_its_own_early_dialog_on_leg_a_and_a_late_fork_is_hung_up_once() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("fo1", "z9hG4bKfo1", 1, 70, "", SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    let contact = |host: &str| format!("Contact: <sip:bob@{host}>\r\n");
    net.send(
        CALLEE,
        &b.reply(
            180,
            "Ringing",
            Some("fork-x"),
            &contact("127.0.0.1:5071"),
            "",
        ),
    );
    let ringing_x = net.expect_one(CALLER, "180");
    net.send(
        CALLEE,
        &b.reply(180, "Ringing", Some("fork-y"), &contact(CALLEE), ""),
    );
    let ringing_y = net.expect_one(CALLER, "180");
    let (tag_x, tag_y) = (ringing_x.to_tag().unwrap(), ringing_y.to_tag().unwrap());
    assert_ne!(tag_x, tag_y, "one early dialog on leg A per fork");
    // The same fork again: the same early dialog.
    net.send(
        CALLEE,
        &b.reply(
            180,
            "Ringing",
            Some("fork-x"),
            &contact("127.0.0.1:5071"),
            "",
        ),
    );
    assert_eq!(net.expect_one(CALLER, "180").to_tag(), Some(tag_x));

    // An UPDATE from the caller in fork X's early dialog goes to fork X.
    let update = caller_request("UPDATE", "fo1", "z9hG4bKfo1u", 2, tag_x, "", "");
    net.send(CALLER, &update);
    let relayed = net.expect_one("127.0.0.1:5071", "UPDATE");
    assert_eq!(relayed.to_tag(), Some("fork-x"));
    net.send("127.0.0.1:5071", &relayed.reply(200, "OK", None, "", ""));
    assert_eq!(net.expect_one(CALLER, "200").to_tag(), Some(tag_x));

    // Fork Y answers: leg A's 200 is in fork Y's early dialog.
    net.send(CALLEE, &b.answer(Some("fork-y"), SDP_ANSWER));
    let ok = net.expect_one(CALLER, "200");
    assert_eq!(ok.to_tag(), Some(tag_y));
    net.send(CALLER, &caller_ack("fo1", 1, tag_y, ""));
    net.take();
    // Fork X answers too, late: ACK and BYE to it, once, whatever its retransmissions.
    let late = b.reply(
        200,
        "OK",
        Some("fork-x"),
        &contact("127.0.0.1:5071"),
        SDP_ANSWER,
    );
    let fork_x = addr("127.0.0.1:5071");
    net.send("127.0.0.1:5071", &late);
    let sent = net.take();
    let to_x = |what: &str| sent.iter().filter(|m| m.to == fork_x && m.is(what)).count();
    assert_eq!((to_x("ACK"), to_x("BYE")), (1, 1));
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLER)),
        "leg A hears nothing of fork X"
    );
    net.send("127.0.0.1:5071", &late);
    let sent = net.take();
    let to_x = |what: &str| sent.iter().filter(|m| m.to == fork_x && m.is(what)).count();
    assert_eq!(to_x("ACK"), 1, "re-ACKed");
    assert_eq!(to_x("BYE"), 0, "no second BYE");
    assert!(!sent.iter().any(|m| m.to == addr(CALLER)));
    // A request in fork X's dead early dialog on leg A: 481.
    let stale = caller_request("INFO", "fo1", "z9hG4bKfo1i", 3, tag_x, "", "");
    net.send(CALLER, &stale);
    assert_eq!(net.expect_one(CALLER, "481").status(), Some(481));
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn c5_a_cancel_whose_via_sent_by_was_rewritten_still_cancels() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("c5b", "z9hG4bKc5b", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.reply(180, "Ringing", Some("bob"), "", ""));
    net.take();
    // A middlebox rewrote the sent-by; the branch is the INVITE's.
    let rewritten = cancel("c5b", "z9hG4bKc5b", 1).replace(
        &format!("SIP/2.0/UDP {CALLER};"),
        "SIP/2.0/UDP 198.51.100.1:5080;",
    );
    net.send(CALLER, &rewritten);
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.status() == Some(200) && m.parsed.cseq.to_string() == "1 CANCEL")
    );
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(487))
    );
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("CANCEL")));
}

#[test]
fn a4_with_an_fqdn_route_in_dialog_requests_go_where_the_invite_came_from_never_the_contact() {
    let mut net = Net::new(config());
    // The caller's Contact is elsewhere (a private address behind the proxy); the proxy
    // record-routes with a name TwoLeg cannot resolve.
    let extra = "Record-Route: <sip:proxy.example.com;lr>\r\n";
    let text = invite("a4f", "z9hG4bKa4f", 1, 70, extra, SDP).replace(
        &format!("Contact: <sip:alice@{CALLER}>"),
        "Contact: <sip:alice@10.9.9.9:5060>",
    );
    net.send(CALLER, &text);
    let b = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b.answer(Some("bob-tag"), SDP_ANSWER));
    let ok = net.expect_one(CALLER, "200");
    let tag = ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("a4f", 1, &tag, ""));
    net.take();
    net.send(
        CALLEE,
        &callee_request("BYE", &b, "bob-tag", "z9hG4bKa4fb", 1, "", ""),
    );
    let sent = net.take();
    let byes: Vec<&Msg> = sent.iter().filter(|m| m.is("BYE")).collect();
    assert_eq!(byes.len(), 1, "{sent:#?}");
    assert_eq!(
        byes[0].to,
        addr(CALLER),
        "where the INVITE came from, never the Contact"
    );
    assert_eq!(byes[0].headers("Route"), ["<sip:proxy.example.com;lr>"]);
    assert_eq!(byes[0].start_line(), "BYE sip:alice@10.9.9.9:5060 SIP/2.0");
}

#[test]
fn d5_a_bye_held_for_an_ack_that_never_comes_goes_after_64_t1() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("d5h", "z9hG4bKd5h", 1, 70, "", SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b.answer(Some("bob-tag"), SDP_ANSWER));
    net.expect_one(CALLER, "200");
    // The callee hangs up before the caller's ACK: TwoLeg's BYE to the caller waits.
    net.send(
        CALLEE,
        &callee_request("BYE", &b, "bob-tag", "z9hG4bKd5hb", 1, "", ""),
    );
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLEE) && m.status() == Some(200))
    );
    assert!(!sent.iter().any(|m| m.is("BYE")), "held until the ACK");
    net.advance(Duration::from_secs(33));
    let sent = net.take_to(CALLER);
    let bye = sent
        .iter()
        .find(|m| m.is("BYE"))
        .expect("the held BYE, at 64·T1");
    assert!(bye.header("Reason").unwrap().contains("cause=408"));
}

#[test]
fn e6_a_reinvite_the_callee_never_answers_ends_the_call_at_timer_b() {
    let mut net = Net::new(config());
    let (a_ok, _) = answered_call(&mut net, "e6t");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("INVITE", "e6t", "z9hG4bKe6t", 2, &tag, "", SDP),
    );
    net.expect_one(CALLEE, "INVITE");
    net.advance(Duration::from_secs(33));
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
    assert!(sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")));
    net.advance(Duration::from_secs(40));
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn e7_an_offerless_reinvite_from_the_callee_carries_the_answer_in_the_acks() {
    let mut net = Net::new(config());
    let (_, b_invite) = answered_call(&mut net, "e7b");
    net.send(
        CALLEE,
        &callee_request("INVITE", &b_invite, "bob-tag", "z9hG4bKe7b", 1, "", ""),
    );
    let re = net.expect_one(CALLER, "INVITE");
    assert!(re.body().is_empty());
    net.send(
        CALLER,
        &re.reply(
            200,
            "OK",
            None,
            &format!("Contact: <sip:alice@{CALLER}>\r\n"),
            SDP,
        ),
    );
    let sent = net.take();
    let offer = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.status() == Some(200))
        .expect("the caller's offer goes on in the 200");
    assert!(!offer.body().is_empty());
    assert!(
        !sent.iter().any(|m| m.to == addr(CALLER) && m.is("ACK")),
        "leg A's ACK waits"
    );
    // The callee's ACK brings the answer, which TwoLeg's ACK on leg A carries.
    let ack = format!(
        "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLEE};branch=z9hG4bKe7back;rport\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=bob-tag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_ANSWER}",
        b_invite.parsed.contacts[0].uri,
        b_invite.header("To").unwrap(),
        b_invite.header("From").unwrap(),
        b_invite.parsed.call_id,
        SDP_ANSWER.len()
    );
    net.send(CALLEE, &ack);
    let a_ack = net.expect_one(CALLER, "ACK");
    assert_eq!(a_ack.body(), SDP_ANSWER.as_bytes());
    assert_eq!(a_ack.to_tag(), Some("alice-tag"));
}

/// The default config with these settings on its route.
fn route_config(settings: &str) -> twoleg_core::config::ValidConfig {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "callee", "destination": "{CALLEE}", {settings} }} ] }}"#
    );
    twoleg_core::config::ValidConfig::from_json(&text).unwrap()
}

#[test]
fn a9_unknown_headers_pass_are_stripped_or_allow_listed_per_route_and_session_id_always_passes() {
    let extra = "X-Custom: a\r\nX-Trace: b\r\nP-Asserted-Identity: <sip:alice@example.com>\r\n\
                 Session-ID: ab12cd34ab12cd34ab12cd34ab12cd34\r\n";
    let b_invite = |config| {
        let mut net = Net::new(config);
        net.send(CALLER, &invite("a9", "z9hG4bKa9", 1, 70, extra, SDP));
        net.expect_one(CALLEE, "INVITE")
    };
    let pass = b_invite(route_config(r#""unknown_headers": "pass""#));
    for name in ["X-Custom", "X-Trace", "P-Asserted-Identity", "Session-ID"] {
        assert!(pass.header(name).is_some(), "{name}");
    }
    let strip = b_invite(route_config(r#""unknown_headers": "strip""#));
    for name in ["X-Custom", "X-Trace", "P-Asserted-Identity"] {
        assert!(strip.header(name).is_none(), "{name}");
    }
    assert!(strip.header("Session-ID").is_some());
    assert!(
        strip.header("Content-Type").is_some(),
        "known headers follow their own rules"
    );
    let listed = b_invite(route_config(
        r#""unknown_headers": "allow_list", "allowed_headers": ["x-trace"]"#,
    ));
    assert_eq!(listed.header("X-Trace"), Some("b"));
    assert!(listed.header("X-Custom").is_none());
    assert!(listed.header("Session-ID").is_some());
    // The same policy on the way back.
    let mut net = Net::new(route_config(r#""unknown_headers": "strip""#));
    net.send(CALLER, &invite("a9b", "z9hG4bKa9b", 1, 70, "", SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    let headers = format!("Contact: <sip:bob@{CALLEE}>\r\nX-Callee: c\r\n");
    net.send(
        CALLEE,
        &b.reply(200, "OK", Some("bob"), &headers, SDP_ANSWER),
    );
    assert!(net.expect_one(CALLER, "200").header("X-Callee").is_none());
    // A bad allow list is a config error naming the entry.
    let text = format!(
        r#"{{ "version": 1, "routes": [ {{ "destination": "{CALLEE}",
             "unknown_headers": "allow_list", "allowed_headers": ["X Bad"] }} ] }}"#
    );
    let problems = twoleg_core::config::ValidConfig::from_json(&text).unwrap_err();
    assert!(
        problems
            .to_string()
            .contains("routes[0].allowed_headers[0]"),
        "{problems}"
    );
}
