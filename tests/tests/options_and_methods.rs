//! OPTIONS and other methods (checklist F1–F3), and the other refusals RFC 3261 §8.2 makes.

mod common;

use common::*;

fn options(extra: &str, uri: &str) -> String {
    format!(
        "OPTIONS {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKopt;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:monitor@example.com>;tag=m1\r\n\
         To: <sip:twoleg@127.0.0.1>\r\n\
         Call-ID: options-1\r\n\
         CSeq: 1 OPTIONS\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn f1_options_is_answered_by_the_b2bua_itself() {
    let mut net = Net::new(config());
    net.send(CALLER, &options("", "sip:twoleg@127.0.0.1"));
    let sent = net.take();
    assert_eq!(sent.len(), 1, "no B leg");
    assert_eq!(sent[0].status(), Some(200));
    let allow = sent[0].header("Allow").unwrap();
    for method in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"] {
        assert!(allow.contains(method), "{allow}");
    }
    assert!(sent[0].header("Accept").is_some());
    assert!(sent[0].header("Supported").is_some());
}

#[test]
fn f2_info_in_a_dialog_is_relayed() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "f2");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    let dtmf = "Signal=5\r\nDuration=160\r\n";
    let info = caller_request(
        "INFO",
        "f2",
        "z9hG4bKinfo",
        2,
        &a_tag,
        "Content-Type: application/dtmf-relay\r\n",
        "",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{dtmf}", dtmf.len()),
    );
    net.send(CALLER, &info);
    let relayed = net.expect_one(CALLEE, "INFO");
    assert_eq!(relayed.body(), dtmf.as_bytes());
    assert_eq!(
        relayed.header("Content-Type"),
        Some("application/dtmf-relay")
    );
    assert_eq!(relayed.parsed.cseq.number, b_invite.parsed.cseq.number + 1);
    net.send(CALLEE, &relayed.reply(200, "OK", None, "", ""));
    let ok = net.expect_one(CALLER, "200");
    assert_eq!(ok.parsed.cseq.to_string(), "2 INFO");
}

#[test]
fn f3_unknown_method_gets_405_with_allow() {
    let mut net = Net::new(config());
    let text = options("", "sip:twoleg@127.0.0.1").replace("OPTIONS", "FROBNICATE");
    net.send(CALLER, &text);
    let sent = net.take();
    assert_eq!(sent[0].status(), Some(405));
    assert!(sent[0].header("Allow").unwrap().contains("INVITE"));
}

#[test]
fn f3_unsupported_require_gets_420_with_unsupported() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &invite("f3", "z9hG4bKf3", 1, 70, "Require: foo, bar\r\n", SDP),
    );
    let sent = net.take();
    assert_eq!(sent.len(), 1, "no B leg");
    assert_eq!(sent[0].status(), Some(420));
    assert_eq!(sent[0].header("Unsupported"), Some("foo, bar"));
}

#[test]
fn unknown_uri_scheme_gets_416() {
    let mut net = Net::new(config());
    net.send(
        CALLER,
        &options("", "nobodyKnowsThisScheme:totallyopaquecontent"),
    );
    assert_eq!(net.take()[0].status(), Some(416));
}

#[test]
fn merged_request_gets_482() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("m1", "z9hG4bKfirst", 1, 70, "", SDP));
    net.take();
    // The same request again over another path: same Call-ID, From tag and CSeq, new branch.
    net.send(CALLER, &invite("m1", "z9hG4bKsecond", 1, 70, "", SDP));
    let sent = net.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].status(), Some(482));
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn no_route_gets_404() {
    let text = r#"{ "routes": [ { "match": { "host": { "exact": "elsewhere.example.com" } }, "destination": "127.0.0.1:5070" } ] }"#;
    let mut net = Net::new(twoleg_core::config::ValidConfig::from_json(text).unwrap());
    net.send(CALLER, &invite("r1", "z9hG4bKr1", 1, 70, "", SDP));
    let sent = net.take();
    let statuses: Vec<_> = sent.iter().map(|m| m.status()).collect();
    assert_eq!(statuses, [Some(100), Some(404)]);
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, twoleg_core::Event::Refused { status, reason: twoleg_core::Refusal::NoRoute, .. } if status.code() == 404))
    );
}

#[test]
fn an_invite_with_an_unknown_body_type_gets_415() {
    let mut net = Net::new(config());
    let text = invite("u1", "z9hG4bKu1", 1, 70, "", SDP)
        .replace("application/sdp", "application/unknownformat");
    net.send(CALLER, &text);
    let sent = net.take();
    assert_eq!(sent[0].status(), Some(415));
    assert_eq!(sent[0].header("Accept"), Some("application/sdp"));
}

#[test]
fn f2_message_and_notify_in_a_dialog_are_relayed_both_ways_and_refer_gets_405() {
    let mut net = Net::new(config());
    let (a_ok, b_invite) = answered_call(&mut net, "f2m");
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    let text = "hello";
    let message = caller_request(
        "MESSAGE",
        "f2m",
        "z9hG4bKmsg",
        2,
        &a_tag,
        "Content-Type: text/plain\r\n",
        "",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{text}", text.len()),
    );
    net.send(CALLER, &message);
    let relayed = net.expect_one(CALLEE, "MESSAGE");
    assert_eq!(relayed.body(), text.as_bytes());
    net.send(CALLEE, &relayed.reply(200, "OK", None, "", ""));
    assert_eq!(
        net.expect_one(CALLER, "200").parsed.cseq.to_string(),
        "2 MESSAGE"
    );
    let notify = callee_request(
        "NOTIFY",
        &b_invite,
        "bob-tag",
        "z9hG4bKntf",
        1,
        "Event: refer\r\nSubscription-State: terminated\r\n",
        "",
    );
    net.send(CALLEE, &notify);
    let relayed = net.expect_one(CALLER, "NOTIFY");
    assert_eq!(relayed.header("Event"), Some("refer"));
    net.send(CALLER, &relayed.reply(200, "OK", None, "", ""));
    assert_eq!(
        net.expect_one(CALLEE, "200").parsed.cseq.to_string(),
        "1 NOTIFY"
    );
    // REFER names the other leg's dialog (Refer-To, Replaces): not relayed, 405 with Allow.
    net.send(
        CALLER,
        &caller_request(
            "REFER",
            "f2m",
            "z9hG4bKref",
            3,
            &a_tag,
            "Refer-To: <sip:carol@example.com>\r\n",
            "",
        ),
    );
    let refused = net.expect_one(CALLER, "405");
    assert!(refused.header("Allow").unwrap().contains("MESSAGE"));
    assert_eq!(net.engine().call_count(), 1);
}
