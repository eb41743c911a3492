//! Feeds arbitrary TURN answers to a Lync call's pending allocations: the fuzzer's bytes become
//! STUN messages carrying the pending transaction ids (so they reach the TURN client's decoding
//! and error handling), sent from the TURN server to the media ports and to the listener. Nothing
//! may panic, the engine must drain to a timeout, and once the caller cancels and time runs out no
//! call and no allocation may be left.

#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use twoleg_core::config::{EXAMPLE_CONFIG, ValidConfig};
use twoleg_core::{B2bua, Input, Instant, Output, Receive};

const INVITE: &[u8] = b"INVITE sip:bob@lync.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKfuzz;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@lync.example.com>\r\n\
Call-ID: fuzz@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5080>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 32\r\n\r\n\
v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 1\r\n";

const CANCEL: &[u8] = b"CANCEL sip:bob@lync.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKfuzz;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@lync.example.com>\r\n\
Call-ID: fuzz@127.0.0.1\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";

/// Outputs until the timeout; every STUN request sent, with where from and to.
fn drain(engine: &mut B2bua, sent: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) -> Instant {
    for _ in 0..10_000 {
        match engine.poll_output() {
            Output::Timeout(at) => return at,
            Output::Transmit(t) if t.contents.len() >= 20 && t.contents[0] < 0x40 => {
                sent.push((t.source, t.destination, t.contents));
            }
            _ => {}
        }
    }
    panic!("the engine did not drain to a timeout");
}

fuzz_target!(|data: &[u8]| {
    let config = ValidConfig::from_json(EXAMPLE_CONFIG).unwrap();
    let listener: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let caller: SocketAddr = "127.0.0.1:5080".parse().unwrap();
    let mut engine = B2bua::new(config, Instant::ZERO, 3);
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    let receive = |engine: &mut B2bua, now, source, destination, contents: &[u8]| {
        engine
            .handle_input(Input::Receive(now, Receive { source, destination, contents }))
            .unwrap();
    };
    receive(&mut engine, now, caller, listener, INVITE);
    drain(&mut engine, &mut sent);
    // Each chunk becomes one STUN message: the first byte picks the class and which request
    // it answers, the rest are attributes as the fuzzer wrote them.
    for chunk in data.split(|&b| b == 0xff).take(64) {
        let Some((&pick, attributes)) = chunk.split_first() else {
            continue;
        };
        let Some((media, server, request)) = sent.get(usize::from(pick >> 2) % sent.len().max(1)).cloned()
        else {
            break;
        };
        let class = u16::from(pick & 3);
        let method = u16::from_be_bytes([request[0], request[1]]) & 0x3EEF;
        let kind = method | ((class & 1) << 4) | ((class & 2) << 7);
        let mut message = kind.to_be_bytes().to_vec();
        let length = u16::try_from(attributes.len()).unwrap_or(u16::MAX);
        message.extend_from_slice(&length.to_be_bytes());
        message.extend_from_slice(&request[4..20]);
        message.extend_from_slice(attributes);
        let to = if pick & 0x80 == 0 { media } else { listener };
        receive(&mut engine, now, server, to, &message);
        let deadline = drain(&mut engine, &mut sent);
        now = now + Duration::from_millis(97);
        if deadline <= now {
            engine.handle_input(Input::Timeout(now)).unwrap();
            drain(&mut engine, &mut sent);
        }
    }
    receive(&mut engine, now, caller, listener, CANCEL);
    let mut deadline = drain(&mut engine, &mut sent);
    let end = now + Duration::from_secs(120);
    while deadline <= end {
        engine.handle_input(Input::Timeout(deadline)).unwrap();
        deadline = drain(&mut engine, &mut sent);
    }
    assert_eq!(engine.call_count(), 0, "the call ended");
    assert_eq!(engine.turn_allocations(), 0, "no allocation left");
});
