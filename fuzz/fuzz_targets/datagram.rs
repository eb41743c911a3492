//! Feeds arbitrary datagrams to the engine, between the messages of a real call, and lets time
//! run: nothing may panic, and the engine must drain to a timeout every time.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Instant, PendingWork};
use twoleg_sim::Driver;

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
    let engine = B2bua::new(ValidConfig::default_config(), Instant::ZERO, 1);
    let mut driver = Driver::new(engine, Instant::ZERO).unwrap();
    let source = "127.0.0.1:5080".parse().unwrap();
    let callee = "127.0.0.1:5070".parse().unwrap();
    let listener = "127.0.0.1:5060".parse().unwrap();
    driver.receive(source, listener, INVITE).unwrap();
    // Split the input into datagrams at 0xff separators; alternate senders.
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let from = if i % 2 == 0 { source } else { callee };
        driver.receive(from, listener, chunk).unwrap();
        driver.advance(Duration::from_millis(137)).unwrap();
    }
    // Let every timer run out (the driver stops a timer re-armed at the same instant).
    driver.advance(Duration::from_secs(3_600)).unwrap();
    assert_eq!(
        driver.engine().pending_work(),
        PendingWork::default(),
        "every transaction and timer ends"
    );
});
