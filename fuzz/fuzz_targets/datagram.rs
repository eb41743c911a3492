//! Feeds arbitrary datagrams to the engine, between the messages of a real call, and lets time
//! run: nothing may panic, and the engine must drain to a timeout every time.

#![no_main]

use libfuzzer_sys::fuzz_target;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Input, Instant, Output, Receive};

const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKfuzz;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: fuzz@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5080>\r\n\
Content-Length: 0\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let config = ValidConfig::default_config();
    let mut engine = B2bua::new(config, Instant::ZERO, 1);
    let mut now = Instant::ZERO;
    let mut drain = |engine: &mut B2bua| -> Instant {
        for _ in 0..10_000 {
            if let Output::Timeout(at) = engine.poll_output() {
                return at;
            }
        }
        panic!("the engine did not drain to a timeout");
    };
    let source = "127.0.0.1:5080".parse().unwrap();
    let callee = "127.0.0.1:5070".parse().unwrap();
    let destination = "127.0.0.1:5060".parse().unwrap();
    let receive = |engine: &mut B2bua, now, from, contents: &[u8]| {
        engine
            .handle_input(Input::Receive(now, Receive { source: from, destination, contents }))
            .unwrap();
    };
    receive(&mut engine, now, source, INVITE);
    drain(&mut engine);
    // Split the input into datagrams at 0xff 0x00 separators; alternate senders.
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let from = if i % 2 == 0 { source } else { callee };
        receive(&mut engine, now, from, chunk);
        let deadline = drain(&mut engine);
        now = now + std::time::Duration::from_millis(137);
        if deadline <= now {
            engine.handle_input(Input::Timeout(now)).unwrap();
            drain(&mut engine);
        }
    }
    // Let every timer run out.
    for _ in 0..1_000 {
        let deadline = drain(&mut engine);
        if deadline == Instant::NEVER {
            break;
        }
        now = deadline;
        engine.handle_input(Input::Timeout(now)).unwrap();
    }
    drain(&mut engine);
    assert_eq!(engine.load(), (0, 0), "every transaction and timer ends");
});
