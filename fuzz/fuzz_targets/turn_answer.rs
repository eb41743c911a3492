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
use twoleg_core::{B2bua, Instant};
use twoleg_sim::Driver;

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

/// Every STUN request the engine sent so far, with where from and to.
fn take_stun(driver: &mut Driver<B2bua>, sent: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) {
    for (_, t) in driver.take_transmits() {
        if twoleg_core::turn::looks_like_stun(&t.contents) {
            sent.push((t.source, t.destination, t.contents));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let config = ValidConfig::from_json(EXAMPLE_CONFIG).unwrap();
    let listener: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let caller: SocketAddr = "127.0.0.1:5080".parse().unwrap();
    let mut driver = Driver::new(B2bua::new(config, Instant::ZERO, 3), Instant::ZERO).unwrap();
    let mut sent = Vec::new();
    driver.receive(caller, listener, INVITE).unwrap();
    take_stun(&mut driver, &mut sent);
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
        driver.receive(server, to, &message).unwrap();
        take_stun(&mut driver, &mut sent);
        driver.advance(Duration::from_millis(97)).unwrap();
        take_stun(&mut driver, &mut sent);
    }
    driver.receive(caller, listener, CANCEL).unwrap();
    driver.advance(Duration::from_secs(120)).unwrap();
    assert_eq!(driver.engine().call_count(), 0, "the call ended");
    assert_eq!(driver.engine().turn_allocations(), 0, "no allocation left");
});
