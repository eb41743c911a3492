//! The engine inside wasmtime sends exactly what the native engine sends: the same seed and the
//! same datagrams at the same times give byte-identical transmits.

mod common;

use std::process::Command;

use common::TWOLEG;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Instant};
use twoleg_sim::{ReplayIn, ReplayOut, header_value as header, replay, response_text};

const SEED: u64 = 9;
const UNTIL_MS: u64 = 70_000;
const CALLER: &str = "127.0.0.1:5080";
const CALLEE: &str = "127.0.0.1:5070";
const LISTENER: &str = "127.0.0.1:5060";

#[derive(Clone)]
struct In {
    at_ms: u64,
    source: &'static str,
    text: String,
}

impl In {
    fn replay(&self) -> ReplayIn {
        ReplayIn {
            at_ms: self.at_ms,
            source: self.source.parse().unwrap(),
            destination: LISTENER.parse().unwrap(),
            text: self.text.clone(),
        }
    }
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

fn find<'a>(out: &'a [ReplayOut], to: &str, start: &str) -> &'a ReplayOut {
    out.iter()
        .find(|o| o.destination.to_string() == to && o.text.starts_with(start))
        .unwrap_or_else(|| panic!("no {start} to {to}"))
}

/// A call answered and hung up, a call cancelled before the callee answers, an unanswered call
/// that times out, OPTIONS and a few malformed datagrams: the callee's answers are built from
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
    let a_tag = header(&a_ok.text, "To")
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_owned();
    inputs.push(In {
        at_ms: 60,
        source: CALLER,
        text: request("ACK", "p1", "z9hG4bKp1ack", 1, Some(&a_tag), ""),
    });
    inputs.push(In {
        at_ms: 1_000,
        source: CALLER,
        text: request("BYE", "p1", "z9hG4bKp1bye", 2, Some(&a_tag), ""),
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
    assert_eq!(wasm.len(), native.len());
    for (w, n) in wasm.iter().zip(&native) {
        assert_eq!(w, n);
    }
}
