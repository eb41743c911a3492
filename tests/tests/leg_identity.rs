//! Leg identity and headers (checklist A1–A9): each leg has its own Call-ID, tags, CSeq space,
//! Via and Contact, and nothing of one leg's routing leaks onto the other.

mod common;

use common::*;

fn routed_config() -> twoleg_core::config::ValidConfig {
    config()
}

#[test]
fn a1_a3_leg_b_has_its_own_identity_and_one_via() {
    let mut net = Net::new(routed_config());
    let extra = "Record-Route: <sip:proxy.example.com;lr>\r\nX-Custom: kept\r\nSession-ID: ab12cd34ab12cd34ab12cd34ab12cd34\r\n";
    net.send(CALLER, &invite("a1", "z9hG4bKa1", 1, 70, extra, SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    assert_ne!(b.parsed.call_id, "a1");
    assert_ne!(b.tag_of_from(), Some("alice-tag"));
    assert_ne!(b.branch(), "z9hG4bKa1");
    assert!(b.branch().starts_with("z9hG4bK"));
    assert_eq!(b.headers("Via").len(), 1, "only TwoLeg's Via on leg B");
    assert_eq!(
        b.header("Contact"),
        Some(format!("<sip:twoleg@{B2BUA}>").as_str())
    );
    assert!(
        b.header("Record-Route").is_none(),
        "leg A's Record-Route stays on leg A"
    );
    assert!(
        !b.text.contains(CALLER),
        "nothing of the caller's address reaches leg B:\n{}",
        b.text
    );
    // A9: unknown headers and Session-ID pass through.
    assert_eq!(b.header("X-Custom"), Some("kept"));
    assert_eq!(
        b.header("Session-ID"),
        Some("ab12cd34ab12cd34ab12cd34ab12cd34")
    );
    assert_eq!(b.body(), SDP.as_bytes());
    // The caller's display name and URI stay the caller's.
    assert!(
        b.header("From")
            .unwrap()
            .starts_with("\"Alice\" <sip:alice@example.com>")
    );
    assert_eq!(b.start_line(), "INVITE sip:bob@example.com SIP/2.0");
}

#[test]
fn a2_a4_tags_and_record_route_per_leg() {
    let mut net = Net::new(config());
    let extra =
        "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n";
    net.send(CALLER, &invite("a2", "z9hG4bKa2", 1, 70, extra, SDP));
    let b = net.expect_one(CALLEE, "INVITE");
    let rr = "Record-Route: <sip:callee-proxy.example.com;lr>\r\nRecord-Route: <sip:127.0.0.1:5071;lr>\r\n";
    net.send(
        CALLEE,
        &b.reply(
            200,
            "OK",
            Some("bob-tag"),
            &format!("{rr}Contact: <sip:bob@{CALLEE}>\r\n"),
            SDP_ANSWER,
        ),
    );
    let sent = net.take();
    let ok = sent.iter().find(|m| m.to == addr(CALLER)).unwrap();
    assert_eq!(
        ok.headers("Record-Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
        "the A-leg 2xx copies the INVITE's Record-Route in order"
    );
    let a_tag = ok.to_tag().unwrap().to_owned();
    assert_ne!(a_tag, "bob-tag");
    let ack = sent.iter().find(|m| m.is("ACK")).unwrap();
    assert_eq!(
        ack.headers("Route"),
        [
            "<sip:127.0.0.1:5071;lr>",
            "<sip:callee-proxy.example.com;lr>"
        ],
        "leg B's route set is its 2xx Record-Route reversed, on the ACK too"
    );
    assert_eq!(ack.to, addr("127.0.0.1:5071"), "sent to the first route");
    net.send(CALLER, &caller_ack("a2", 1, &a_tag, ""));
    // The callee hangs up: the BYE on leg A follows leg A's route set.
    net.send(
        CALLEE,
        &callee_request("BYE", &b, "bob-tag", "z9hG4bKbye", 7, "", ""),
    );
    let bye = net.expect_one(CALLER, "BYE");
    assert_eq!(
        bye.headers("Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(
        bye.tag_of_from(),
        Some(a_tag.as_str()),
        "TwoLeg's A tag is stable for the dialog"
    );
    assert_eq!(bye.to_tag(), Some("alice-tag"));
}

#[test]
fn a5_cseq_is_per_leg() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "a5");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(
        CALLER,
        &caller_request("BYE", "a5", "z9hG4bKa5bye", 900, &a_tag, "", ""),
    );
    let bye = net.expect_one(CALLEE, "BYE");
    assert_eq!(bye.parsed.cseq.number, b_invite.parsed.cseq.number + 1);
    assert_eq!(bye.parsed.call_id, b_invite.parsed.call_id);
    assert_eq!(bye.tag_of_from(), b_invite.tag_of_from());
    assert_eq!(bye.to_tag(), Some("bob-tag"));
}

#[test]
fn a6_max_forwards_is_decremented_and_zero_refused() {
    for (received, forwarded) in [(70, 69), (1, 0)] {
        let mut net = Net::new(config());
        net.send(CALLER, &invite("a6", "z9hG4bKa6", 1, received, "", SDP));
        let b = net.expect_one(CALLEE, "INVITE");
        assert_eq!(
            b.header("Max-Forwards"),
            Some(forwarded.to_string().as_str())
        );
    }
    let mut net = Net::new(config());
    net.send(CALLER, &invite("a6", "z9hG4bKa6", 1, 0, "", SDP));
    let sent = net.take();
    assert_eq!(sent.len(), 1, "no B leg: {sent:#?}");
    assert_eq!(sent[0].status(), Some(483));
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a7_compact_mixed_case_and_comma_joined_headers() {
    let mut net = Net::new(config());
    let text = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         v: SIP/2.0/UDP {CALLER};branch=z9hG4bKa7;rport, SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKfar\r\n\
         mAx-FoRwArDs: 70\r\n\
         f: <sip:alice@example.com>;tag=a7\r\n\
         t: <sip:bob@example.com>\r\n\
         i: a7@example.com\r\n\
         cseq: 1 INVITE\r\n\
         m: <sip:alice@{CALLER}>\r\n\
         c: application/sdp\r\n\
         l: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    net.send(CALLER, &text);
    let sent = net.take();
    let trying = &sent[0];
    assert_eq!(trying.status(), Some(100));
    assert_eq!(
        trying.headers("Via").len(),
        2,
        "both Via values come back, split"
    );
    assert!(
        trying.text.contains("\r\nCall-ID: a7@example.com\r\n"),
        "canonical long names:\n{}",
        trying.text
    );
    let b = sent.iter().find(|m| m.is("INVITE")).unwrap();
    assert!(b.text.contains("\r\nContent-Type: application/sdp\r\n"));
    assert!(!b.text.contains("\r\nc: "));
}

#[test]
fn a8_rport_responses_go_to_the_source() {
    let mut net = Net::new(config());
    let text = invite("a8", "z9hG4bKa8", 1, 70, "", SDP)
        .replace(&format!("UDP {CALLER}"), "UDP 192.0.2.1:5999");
    net.send(CALLER, &text);
    let trying = net.take().into_iter().next().unwrap();
    assert_eq!(trying.to, addr(CALLER), "rport: back to where it came from");
    let via = trying.header("Via").unwrap();
    assert!(via.contains("rport=5080"), "{via}");
    assert!(via.contains("received=127.0.0.1"), "{via}");
}
