//! SIP over streams (RFC 3261 §18): framing by Content-Length, keep-alives, responses on the
//! request's connection, transaction timers that follow the transport, Via and Contact naming
//! the transport, large requests moved to TCP, and connection failures that fail a request at
//! once.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::{Config, Listener, ValidConfig};
use twoleg_core::{DropReason, Event, Refusal};

const TCP_CALLER: &str = "127.0.0.1:40001";

/// The default config (UDP and TCP listeners on 127.0.0.1:5060, a route to the callee over UDP).
fn tcp_config() -> ValidConfig {
    config()
}

/// A config whose route reaches the callee over TCP (and the callee's UDP otherwise).
fn config_with(route_listener: &str, large_requests_over_tcp: bool) -> ValidConfig {
    let mut config: Config =
        serde_json::from_str(twoleg_core::config::DEFAULT_CONFIG).expect("the default parses");
    config.routes[0].listener = route_listener.to_owned();
    config.routes[0].large_requests_over_tcp = large_requests_over_tcp;
    ValidConfig::validate(config).expect("a valid config")
}

fn tcp_invite(call_id: &str) -> String {
    invite(call_id, "z9hG4bKt1", 1, 70, "", SDP).replace(
        &format!("SIP/2.0/UDP {CALLER}"),
        &format!("SIP/2.0/TCP {TCP_CALLER}"),
    )
}

#[test]
fn a_caller_over_tcp_is_answered_on_its_connection_without_retransmissions() {
    let mut net = Net::new(tcp_config());
    net.send_stream(
        Transport::Tcp,
        1,
        TCP_CALLER,
        B2BUA,
        tcp_invite("t1").as_bytes(),
    );
    let sent = net.take();
    let trying = sent.iter().find(|m| m.is("100")).expect("100 Trying");
    assert_eq!(trying.transport, Transport::Tcp);
    assert_eq!(
        trying.connection,
        Some(ConnectionId(1)),
        "on the request's connection"
    );
    let b_invite = sent
        .iter()
        .find(|m| m.is("INVITE"))
        .expect("the B leg's INVITE")
        .clone();
    assert_eq!(b_invite.transport, Transport::Udp, "the route's transport");
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
    let ringing = net.expect_one(TCP_CALLER, "180");
    assert_eq!(ringing.connection, Some(ConnectionId(1)));
    assert!(
        ringing
            .header("Contact")
            .is_some_and(|contact| contact.contains(";transport=tcp")),
        "leg A's Contact names its transport: {:?}",
        ringing.header("Contact")
    );
    // No Timer A/G-style retransmission of the provisional over a reliable transport.
    net.advance(Duration::from_secs(10));
    assert!(
        net.take()
            .iter()
            .all(|m| !(m.to == addr(TCP_CALLER) && m.is("180"))),
        "a provisional is never sent again over TCP"
    );
}

#[test]
fn a_stream_is_framed_by_content_length_across_reads_and_within_one() {
    let mut net = Net::new(tcp_config());
    let invite = tcp_invite("t2");
    // One byte per read: one INVITE, whole.
    for byte in invite.as_bytes() {
        net.send_stream(
            Transport::Tcp,
            2,
            TCP_CALLER,
            B2BUA,
            std::slice::from_ref(byte),
        );
    }
    let b_invites: Vec<_> = net
        .take()
        .into_iter()
        .filter(|m| m.to == addr(CALLEE) && m.is("INVITE"))
        .collect();
    assert_eq!(b_invites.len(), 1, "one INVITE, read byte by byte");
    // Two OPTIONS and a ping in one read: two answers and a pong, in order.
    let options = |n: u32| {
        format!(
            "OPTIONS sip:twoleg@{B2BUA} SIP/2.0\r\nVia: SIP/2.0/TCP {TCP_CALLER};branch=z9hG4bKo{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=o{n}\r\nTo: <sip:twoleg@example.com>\r\n\
             Call-ID: opt{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let batch = format!("{}\r\n\r\n{}", options(1), options(2));
    net.send_stream(Transport::Tcp, 3, TCP_CALLER, B2BUA, batch.as_bytes());
    let answers: Vec<_> = net
        .take()
        .into_iter()
        .filter(|m| m.to == addr(TCP_CALLER) && m.is("200"))
        .map(|m| m.parsed.call_id.clone())
        .collect();
    assert_eq!(answers, ["opt1", "opt2"]);
    assert_eq!(
        net.pongs,
        [(addr(TCP_CALLER), Some(ConnectionId(3)))],
        "the ping between them got its pong on that connection"
    );
}

#[test]
fn a_stream_without_content_length_gets_400_and_is_closed() {
    let mut net = Net::new(tcp_config());
    let broken = tcp_invite("t3").replace("Content-Length:", "X-Length:");
    net.send_stream(Transport::Tcp, 4, TCP_CALLER, B2BUA, broken.as_bytes());
    let refusal = net.expect_one(TCP_CALLER, "400");
    assert_eq!(refusal.connection, Some(ConnectionId(4)));
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::Refused {
            reason: Refusal::Framing(_),
            ..
        }
    )));
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, Event::CloseConnection { connection, .. } if *connection == ConnectionId(4))),
        "the connection is closed: {:?}",
        net.events
    );
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a_stream_over_the_size_limit_is_closed() {
    let mut net = Net::new(tcp_config());
    let huge = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {TCP_CALLER};branch=z9hG4bKh\r\n\
         Content-Length: 900000\r\n\r\n"
    );
    net.send_stream(Transport::Tcp, 5, TCP_CALLER, B2BUA, huge.as_bytes());
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::CloseConnection { connection, .. } if *connection == ConnectionId(5)
    )));
    // Headers that never end close the connection too, once past the limit.
    net.send_stream(Transport::Tcp, 6, TCP_CALLER, B2BUA, &vec![b'a'; 70_000]);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::Framing(_),
            ..
        }
    )));
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::CloseConnection { connection, .. } if *connection == ConnectionId(6)
    )));
}

#[test]
fn a_route_over_tcp_sends_without_retransmissions_and_a_refused_connect_answers_503_at_once() {
    let mut net = Net::new(config_with("default-tcp", false));
    net.send(CALLER, &invite("t6", "z9hG4bKt6", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert_eq!(b_invite.transport, Transport::Tcp);
    assert_eq!(
        b_invite.connection, None,
        "the host finds or opens the connection"
    );
    assert!(
        b_invite
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 127.0.0.1:5060")
    );
    assert!(
        b_invite
            .header("Contact")
            .unwrap()
            .contains(";transport=tcp")
    );
    net.advance(Duration::from_secs(4));
    assert!(
        net.take()
            .iter()
            .all(|m| !(m.to == addr(CALLEE) && m.is("INVITE"))),
        "no Timer A over TCP"
    );
    net.undeliverable(Transport::Tcp, CALLEE);
    let refusal = net.expect_one(CALLER, "503");
    assert_eq!(refusal.transport, Transport::Udp);
    let history = net.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].final_status, 503, "{:?}", history[0]);
}

#[test]
fn a_large_request_toward_a_destination_that_takes_tcp_goes_over_tcp() {
    let mut net = Net::new(config_with("", true));
    let big_sdp = format!(
        "{SDP}{}",
        "a=x-filler:0123456789abcdef0123456789abcdef\r\n".repeat(50)
    );
    net.send(CALLER, &invite("t7", "z9hG4bKt7", 1, 70, "", &big_sdp));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert!(b_invite.text.len() > 1_300);
    assert_eq!(b_invite.transport, Transport::Tcp, "RFC 3261 §18.1.1");
    assert!(
        b_invite
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 127.0.0.1:5060"),
        "{:?}",
        b_invite.header("Via")
    );
    // A small one stays on UDP.
    net.send(CALLER, &invite("t8", "z9hG4bKt8", 1, 70, "", SDP));
    let small = net.expect_one(CALLEE, "INVITE");
    assert_eq!(small.transport, Transport::Udp);
}

#[test]
fn a_bye_over_tcp_is_answered_once_and_nothing_lingers() {
    let mut net = Net::new(tcp_config());
    net.send_stream(
        Transport::Tcp,
        9,
        TCP_CALLER,
        B2BUA,
        tcp_invite("t9").as_bytes(),
    );
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let a_ok = net.expect_one(TCP_CALLER, "200");
    let tag = a_ok.to_tag().unwrap().to_owned();
    let over_tcp = |text: String| {
        text.replace(
            &format!("SIP/2.0/UDP {CALLER}"),
            &format!("SIP/2.0/TCP {TCP_CALLER}"),
        )
    };
    net.send_stream(
        Transport::Tcp,
        9,
        TCP_CALLER,
        B2BUA,
        over_tcp(caller_ack("t9", 1, &tag, "")).as_bytes(),
    );
    net.send_stream(
        Transport::Tcp,
        9,
        TCP_CALLER,
        B2BUA,
        over_tcp(caller_request("BYE", "t9", "z9hG4bKt9bye", 2, &tag, "", "")).as_bytes(),
    );
    let ok = net.expect_one(TCP_CALLER, "200");
    assert_eq!(ok.connection, Some(ConnectionId(9)));
    let b_bye = net
        .sent
        .iter()
        .rev()
        .find(|m| m.to == addr(CALLEE) && m.is("BYE"))
        .expect("leg B's BYE")
        .clone();
    net.send(CALLEE, &b_bye.reply(200, "OK", None, "", ""));
    net.close(9);
    // Over TCP Timer J is zero: the BYE's server transaction does not linger; the answered
    // INVITE's (Timer L, on every transport) is gone after 64·T1.
    net.advance(Duration::from_secs(33));
    assert_eq!(net.engine().pending_work(), PendingWork::default());
    assert_eq!(net.history()[0].legs[0].transport, Transport::Tcp);
    assert_eq!(net.history()[0].legs[1].transport, Transport::Udp);
}

#[test]
fn a_tls_listener_without_files_is_refused_with_its_path() {
    let mut config: Config =
        serde_json::from_str(twoleg_core::config::DEFAULT_CONFIG).expect("the default parses");
    config.sip.listeners.push(Listener {
        name: "tls".to_owned(),
        address: "127.0.0.1:5061".to_owned(),
        transport: "tls".to_owned(),
        tls: None,
        ..Listener::default()
    });
    config.sip.listeners.push(Listener {
        name: "bad".to_owned(),
        address: "127.0.0.1:5062".to_owned(),
        transport: "sctp".to_owned(),
        tls: None,
        ..Listener::default()
    });
    let problems: Vec<String> = ValidConfig::validate(config)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("sip.listeners[2].tls:")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("sip.listeners[3].transport: \"sctp\" is not a transport")),
        "{problems:?}"
    );
}
