//! Robustness (checklist J1–J3): the RFC 4475 torture messages fed to the engine as datagrams,
//! Content-Length framing, oversize datagrams; afterwards the engine still completes a call.

mod common;

use std::path::PathBuf;

use common::*;
use twoleg_core::sip::ParseError;
use twoleg_core::{DropReason, Event};

struct Case {
    file: String,
    class: String,
    bytes: Vec<u8>,
}

fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/rfc4475");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("the RFC 4475 corpus");
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Case {
                file: fields[0].to_owned(),
                class: fields[2].to_owned(),
                bytes: std::fs::read(dir.join(fields[0])).unwrap(),
            }
        })
        .collect()
}

/// What the engine did with one datagram: the statuses it answered with, whether it opened a
/// B leg, and the events it reported.
fn fire(net: &mut Net, bytes: &[u8]) -> (Vec<u16>, bool, Vec<Event>) {
    let events_before = net.events.len();
    let echoed_before = net.echoed_errors.len();
    net.send_bytes(CALLER, B2BUA, bytes);
    let sent = net.take();
    for msg in &sent {
        assert!(
            msg.to.ip().is_loopback(),
            "sent outside loopback: {}",
            msg.to
        );
    }
    // Responses go where each message's Via says (source IP, Via or rport port): all of them.
    let mut statuses: Vec<u16> = sent.iter().filter_map(Msg::status).collect();
    for text in &net.echoed_errors[echoed_before..] {
        statuses.push(text[8..11].parse().unwrap());
    }
    let b_leg = sent.iter().any(|m| m.to == addr(CALLEE) && m.is("INVITE"));
    (statuses, b_leg, net.events[events_before..].to_vec())
}

#[test]
fn j1_every_torture_message_is_handled_per_its_class() {
    let mut net = Net::new(config());
    for case in corpus() {
        let is_response = case.bytes.starts_with(b"SIP/");
        let (statuses, b_leg, events) = fire(&mut net, &case.bytes);
        let dropped_malformed = events.iter().any(|e| {
            matches!(
                e,
                Event::Dropped {
                    reason: DropReason::Malformed(_),
                    ..
                }
            )
        });
        let refused_400 = statuses.contains(&400) || statuses.contains(&505);
        match (case.class.as_str(), case.file.as_str()) {
            // An OPTIONS outside a dialog, which TwoLeg answers itself: as an endpoint, it
            // processes it as if Max-Forwards were positive (RFC 4475 §3.3.6); a request it
            // would forward gets 483 (dialog_conformance.rs).
            ("semantic", "zeromf.dat") => assert_eq!(statuses, [200], "{}", case.file),
            ("semantic", "unkscm.dat") => assert_eq!(statuses, [416], "{}", case.file),
            ("semantic", "bext01.dat") => assert_eq!(statuses, [420], "{}", case.file),
            ("semantic", "multi01.dat" | "mcl01.dat") => {
                assert!(refused_400, "{}: {statuses:?}", case.file)
            }
            // No From, To or Call-ID: no valid response can be built, so it is dropped.
            ("semantic", "insuf.dat") => {
                assert!(dropped_malformed && statuses.is_empty(), "{}", case.file)
            }
            ("invalid", _) => assert!(
                refused_400 && !b_leg || dropped_malformed && statuses.is_empty(),
                "{}: invalid must get 400 or be dropped with a reason: {statuses:?} {events:?}",
                case.file
            ),
            ("valid", _) if is_response => assert!(
                events.iter().any(|e| matches!(
                    e,
                    Event::Dropped {
                        reason: DropReason::StrayResponse { .. },
                        ..
                    }
                )),
                "{}: a valid response matching nothing is dropped as stray: {events:?}",
                case.file
            ),
            ("valid", _) => {
                assert!(
                    !refused_400 && !dropped_malformed,
                    "{}: a valid request is handled: {statuses:?} {events:?}",
                    case.file
                );
                assert!(
                    !statuses.is_empty() || b_leg,
                    "{}: answered or forwarded",
                    case.file
                );
                let has_to_tag = twoleg_core::sip::parse(&case.bytes, 65_535)
                    .unwrap()
                    .to
                    .tag()
                    .is_some();
                if case.bytes.starts_with(b"INVITE") && !has_to_tag {
                    assert!(b_leg, "{}: a valid INVITE is routed", case.file);
                }
                if has_to_tag {
                    // In-dialog for a dialog that does not exist here (wsinv).
                    assert_eq!(statuses, [481], "{}", case.file);
                }
            }
            _ => assert!(
                !dropped_malformed || is_response,
                "{}: well-formed: {events:?}",
                case.file
            ),
        }
    }
    // Afterwards the engine still completes a normal call.
    let (a_ok, _) = answered_call(&mut net, "after-torture");
    net.send(
        CALLER,
        &caller_request(
            "BYE",
            "after-torture",
            "z9hG4bKafter",
            2,
            a_ok.to_tag().unwrap(),
            "",
            "",
        ),
    );
    assert!(
        net.take()
            .iter()
            .any(|m| m.to == addr(CALLEE) && m.is("BYE"))
    );
    let last = net.history().last().cloned().unwrap();
    assert_eq!(last.legs[0].call_id, "after-torture");
    assert_eq!(last.final_status, 200);
}

#[test]
fn j2_content_length_framing_on_udp() {
    let mut net = Net::new(config());
    // Longer than the body: 400.
    let long = invite("j2a", "z9hG4bKj2a", 1, 70, "", SDP).replace(
        &format!("Content-Length: {}", SDP.len()),
        "Content-Length: 999",
    );
    let (statuses, b_leg, _) = fire(&mut net, long.as_bytes());
    assert_eq!(statuses, [400]);
    assert!(!b_leg);
    // Shorter than the datagram: the rest is ignored.
    let short = format!(
        "{}GARBAGE-AFTER-THE-BODY",
        invite("j2b", "z9hG4bKj2b", 1, 70, "", SDP)
    );
    let (_, b_leg, _) = fire(&mut net, short.as_bytes());
    assert!(b_leg);
    let b_invite = net
        .sent
        .iter()
        .rev()
        .find(|m| m.is("INVITE") && m.to == addr(CALLEE))
        .unwrap();
    assert_eq!(b_invite.body(), SDP.as_bytes());
}

#[test]
fn j3_an_oversize_datagram_is_dropped_with_a_reason() {
    let mut net = Net::new(config());
    let padding = "X-Padding: ".to_owned() + &"x".repeat(70_000) + "\r\n";
    let huge = invite("j3", "z9hG4bKj3", 1, 70, &padding, SDP);
    let (statuses, b_leg, events) = fire(&mut net, huge.as_bytes());
    assert!(statuses.is_empty() && !b_leg);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Dropped {
                reason: DropReason::Malformed(ParseError::TooLarge { .. }),
                ..
            }
        )),
        "{events:?}"
    );
}

#[test]
fn garbage_never_panics_and_is_reported() {
    let mut net = Net::new(config());
    for garbage in [
        &b""[..],
        b"\r\n\r\n",
        b"\xff\xfe\x00\x01",
        b"INVITE",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n",
    ] {
        let (statuses, b_leg, events) = fire(&mut net, garbage);
        assert!(!b_leg);
        assert!(!statuses.contains(&200));
        assert!(
            !events.is_empty() || !statuses.is_empty(),
            "{garbage:?}: silently ignored"
        );
    }
}
