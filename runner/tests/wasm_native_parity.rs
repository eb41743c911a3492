//! The engine inside wasmtime sends exactly what the native engine sends: the same seed and the
//! same datagrams and stream reads at the same times give byte-identical transmits, over UDP
//! and over a TCP caller leg alike.

mod common;

use std::process::Command;

use common::TWOLEG;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, ConnectionId, Instant, Transport};
use twoleg_sim::{ReplayIn, ReplayOut, header_value as header, replay, response_text};

const SEED: u64 = 9;
const UNTIL_MS: u64 = 70_000;
const CALLER: &str = "127.0.0.1:5080";
const CALLEE: &str = "127.0.0.1:5070";
const LISTENER: &str = "127.0.0.1:5060";
/// A caller over TCP, on connection 1 to the default config's TCP listener.
const TCP_CALLER: &str = "127.0.0.1:5081";
const CONNECTION: ConnectionId = ConnectionId(1);

#[derive(Clone)]
struct In {
    at_ms: u64,
    source: &'static str,
    text: String,
}

impl In {
    fn replay(&self) -> ReplayIn {
        let over_tcp = self.source == TCP_CALLER;
        ReplayIn {
            at_ms: self.at_ms,
            transport: if over_tcp {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            connection: over_tcp.then_some(CONNECTION),
            source: self.source.parse().unwrap(),
            destination: LISTENER.parse().unwrap(),
            text: self.text.clone(),
        }
    }
}

/// `text` as the TCP caller sends it: its Via and Contact name TCP.
fn over_tcp(text: &str) -> String {
    text.replace(
        &format!("Via: SIP/2.0/UDP {CALLER}"),
        &format!("Via: SIP/2.0/TCP {TCP_CALLER}"),
    )
    .replace(
        &format!("Contact: <sip:alice@{CALLER}>"),
        &format!("Contact: <sip:alice@{TCP_CALLER};transport=tcp>"),
    )
}

/// The native engine under the same replay loop as `twoleg replay`.
fn native(inputs: &[In]) -> Vec<ReplayOut> {
    let engine = B2bua::new(ValidConfig::default_config(), Instant::ZERO, SEED);
    let inputs: Vec<ReplayIn> = inputs.iter().map(In::replay).collect();
    replay(engine, &inputs, Instant::from_millis(UNTIL_MS)).unwrap()
}

fn reply(request: &str, status: &str, to_tag: &str, body: &str) -> String {
    response_text(request, status, to_tag, &format!("sip:bob@{CALLEE}"), body)
}

fn request(
    method: &str,
    call: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: &str,
) -> String {
    let to = to_tag.map_or_else(
        || "<sip:bob@example.com>".to_owned(),
        |t| format!("<sip:bob@example.com>;tag={t}"),
    );
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a-{call}\r\nTo: {to}\r\nCall-ID: {call}\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:alice@{CALLER}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SDP: &str = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// The To tag of a response.
fn to_tag(response: &ReplayOut) -> String {
    header(&response.text, "To")
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_owned()
}

fn find<'a>(out: &'a [ReplayOut], to: &str, start: &str) -> &'a ReplayOut {
    out.iter()
        .find(|o| o.destination.to_string() == to && o.text.starts_with(start))
        .unwrap_or_else(|| panic!("no {start} to {to}"))
}

/// A call answered and hung up, a call cancelled before the callee answers, an unanswered call
/// that times out, OPTIONS and a few malformed datagrams, and a caller over TCP whose INVITE
/// comes in two reads (its callee on UDP): the callee's answers are built from
/// what the engine sent, which the seed fixes.
fn inputs() -> Vec<In> {
    let mut inputs = vec![
        In {
            at_ms: 0,
            source: CALLER,
            text: request("INVITE", "p1", "z9hG4bKp1", 1, None, SDP),
        },
        In {
            at_ms: 100,
            source: CALLER,
            text: request("INVITE", "p2", "z9hG4bKp2", 1, None, SDP),
        },
        In {
            at_ms: 300,
            source: CALLER,
            text: request("CANCEL", "p2", "z9hG4bKp2", 1, None, ""),
        },
        In {
            at_ms: 400,
            source: CALLER,
            text: request("OPTIONS", "p3", "z9hG4bKp3", 1, None, ""),
        },
        // A Session-Expires below the minimum: 422 (a refusal event through the WIT).
        In {
            at_ms: 420,
            source: CALLER,
            text: request("INVITE", "p3s", "z9hG4bKp3s", 1, None, SDP)
                .replace("Content-Type", "Session-Expires: 120\r\nContent-Type"),
        },
        In {
            at_ms: 450,
            source: CALLER,
            text: request("INVITE", "p5", "z9hG4bKp5", 1, None, SDP).replace(
                &format!("Content-Length: {}", SDP.len()),
                "Content-Length: 999",
            ),
        },
        In {
            at_ms: 460,
            source: CALLER,
            text: "\u{1}garbage".to_owned(),
        },
        In {
            at_ms: 500,
            source: CALLER,
            text: request("INVITE", "p4", "z9hG4bKp4", 1, None, SDP),
        },
    ];
    // The TCP caller's INVITE arrives in two reads.
    let tcp_invite = over_tcp(&request("INVITE", "t1", "z9hG4bKt1", 1, None, SDP));
    let (head, tail) = tcp_invite.split_at(100);
    inputs.push(In {
        at_ms: 2_000,
        source: TCP_CALLER,
        text: head.to_owned(),
    });
    inputs.push(In {
        at_ms: 2_001,
        source: TCP_CALLER,
        text: tail.to_owned(),
    });
    let out = native(&inputs);
    let b_invite = find(&out, CALLEE, "INVITE").text.clone();
    inputs.push(In {
        at_ms: 20,
        source: CALLEE,
        text: reply(&b_invite, "180 Ringing", "bob", ""),
    });
    inputs.push(In {
        at_ms: 40,
        source: CALLEE,
        text: reply(&b_invite, "200 OK", "bob", SDP),
    });
    inputs.sort_by_key(|i| i.at_ms);
    let out = native(&inputs);
    let a_ok = out
        .iter()
        .find(|o| {
            o.destination.to_string() == CALLER
                && o.text.starts_with("SIP/2.0 200")
                && header(&o.text, "CSeq") == "1 INVITE"
        })
        .unwrap();
    inputs.push(In {
        at_ms: 60,
        source: CALLER,
        text: request("ACK", "p1", "z9hG4bKp1ack", 1, Some(&to_tag(a_ok)), ""),
    });
    inputs.push(In {
        at_ms: 1_000,
        source: CALLER,
        text: request("BYE", "p1", "z9hG4bKp1bye", 2, Some(&to_tag(a_ok)), ""),
    });
    inputs.sort_by_key(|i| i.at_ms);
    let out = native(&inputs);
    let b_bye = find(&out, CALLEE, "BYE").text.clone();
    inputs.push(In {
        at_ms: 1_020,
        source: CALLEE,
        text: reply(&b_bye, "200 OK", "bob", ""),
    });
    inputs.sort_by_key(|i| i.at_ms);

    // Everything before 2 s is settled: the TCP call's answers are built from what the engine
    // sends after that.
    let out = native(&inputs);
    let b_tcp_invite = out
        .iter()
        .find(|o| {
            o.destination.to_string() == CALLEE
                && o.text.starts_with("INVITE")
                && !out.iter().any(|earlier| {
                    earlier.at_ns < 2_000_000_000
                        && header(&earlier.text, "Call-ID") == header(&o.text, "Call-ID")
                })
        })
        .expect("the TCP caller's INVITE reaches the callee")
        .text
        .clone();
    inputs.push(In {
        at_ms: 2_020,
        source: CALLEE,
        text: reply(&b_tcp_invite, "200 OK", "bob-t", SDP),
    });
    let out = native(&inputs);
    let tcp_ok = out
        .iter()
        .find(|o| o.destination.to_string() == TCP_CALLER && o.text.starts_with("SIP/2.0 200"))
        .expect("the TCP caller is answered");
    for (at_ms, method, branch, cseq) in [
        (2_040, "ACK", "z9hG4bKt1ack", 1),
        (3_000, "BYE", "z9hG4bKt1bye", 2),
    ] {
        inputs.push(In {
            at_ms,
            source: TCP_CALLER,
            text: over_tcp(&request(
                method,
                "t1",
                branch,
                cseq,
                Some(&to_tag(tcp_ok)),
                "",
            )),
        });
    }
    let out = native(&inputs);
    let b_tcp_bye = out
        .iter()
        .find(|o| {
            o.text.starts_with("BYE")
                && header(&o.text, "Call-ID") == header(&b_tcp_invite, "Call-ID")
        })
        .expect("the TCP caller's BYE reaches the callee")
        .text
        .clone();
    inputs.push(In {
        at_ms: 3_020,
        source: CALLEE,
        text: reply(&b_tcp_bye, "200 OK", "bob-t", ""),
    });
    inputs
}

#[test]
fn the_component_in_wasmtime_sends_what_the_native_engine_sends() {
    let inputs = inputs();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.jsonl");
    let lines: Vec<String> = inputs
        .iter()
        .map(|i| serde_json::to_string(&i.replay()).unwrap())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = Command::new(TWOLEG)
        .args([
            "replay",
            "--seed",
            &SEED.to_string(),
            "--until-ms",
            &UNTIL_MS.to_string(),
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm: Vec<ReplayOut> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let native = native(&inputs);
    assert!(
        native.len() > 40,
        "the scenario exercises the engine: {} transmits",
        native.len()
    );
    assert!(
        native.iter().any(|o| o.text.starts_with("SIP/2.0 400")),
        "a malformed request was answered"
    );
    assert!(
        native.iter().any(|o| o.text.starts_with("SIP/2.0 408")),
        "an unanswered call timed out"
    );
    assert!(
        native.iter().any(|o| o.text.starts_with("SIP/2.0 422")),
        "a session interval below the minimum was refused"
    );
    let to_tcp_caller: Vec<&ReplayOut> = native
        .iter()
        .filter(|o| o.destination.to_string() == TCP_CALLER)
        .collect();
    assert!(
        to_tcp_caller
            .iter()
            .all(|o| o.transport == Transport::Tcp && o.connection == Some(CONNECTION)),
        "the TCP caller is answered on its connection: {to_tcp_caller:#?}"
    );
    let statuses: Vec<&str> = to_tcp_caller.iter().map(|o| &o.text[8..11]).collect();
    assert_eq!(
        statuses,
        ["100", "200", "200"],
        "INVITE and BYE answered once each, nothing retransmitted over TCP"
    );
    assert!(
        native
            .iter()
            .filter(|o| o.destination.to_string() == CALLEE)
            .all(|o| o.transport == Transport::Udp),
        "the callee's leg stays on UDP"
    );
    assert_eq!(wasm.len(), native.len());
    for (w, n) in wasm.iter().zip(&native) {
        assert_eq!(w, n);
    }
}
