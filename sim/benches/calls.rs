#![allow(missing_docs)] // criterion_group! writes an undocumented function.

//! Simulated basic calls through the engine alone: INVITE to BYE on both legs, 14 datagrams
//! through the engine per call (6 in, 8 out), with virtual time running so transactions expire
//! as they would in a steady state.
//!
//! `cargo bench -p twoleg-sim --bench calls`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Instant};
use twoleg_sim::{Driver, header_value as header, response_text};

const CALLER: &str = "127.0.0.1:5080";
const CALLEE: &str = "127.0.0.1:5070";
const LISTENER: &str = "127.0.0.1:5060";
const SDP: &str = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// Drives the engine through whole calls, playing caller and callee with string templates.
struct Bench {
    driver: Driver<B2bua>,
    out: Vec<(SocketAddr, Vec<u8>)>,
    caller: SocketAddr,
    callee: SocketAddr,
    listener: SocketAddr,
    n: u64,
}

impl Bench {
    fn new() -> Self {
        let engine = B2bua::new(ValidConfig::default_config(), Instant::ZERO, 1);
        let mut bench = Self {
            driver: Driver::new(engine, Instant::ZERO).unwrap(),
            out: Vec::new(),
            caller: CALLER.parse().unwrap(),
            callee: CALLEE.parse().unwrap(),
            listener: LISTENER.parse().unwrap(),
            n: 0,
        };
        bench.drain();
        bench
    }

    fn drain(&mut self) {
        while let Some((_, t)) = self.driver.pop_transmit() {
            self.out.push((t.destination, t.contents));
        }
        black_box(self.driver.take_events());
    }

    fn input(&mut self, from: SocketAddr, text: &str) {
        self.driver
            .receive(from, self.listener, text.as_bytes())
            .unwrap();
        self.drain();
    }

    /// The last datagram sent to `to`.
    fn last_to(&self, to: SocketAddr) -> String {
        let (_, bytes) = self
            .out
            .iter()
            .rev()
            .find(|(d, _)| *d == to)
            .expect("a datagram");
        String::from_utf8(bytes.clone()).unwrap()
    }

    fn call(&mut self) {
        self.n += 1;
        let n = self.n;
        // One call every millisecond of virtual time: timers fire on the way.
        self.driver.advance(Duration::from_millis(1)).unwrap();
        self.drain();
        self.out.clear();
        let invite = format!(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKi{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{n}\r\nTo: <sip:bob@example.com>\r\n\
             Call-ID: c{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{CALLER}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        self.input(self.caller, &invite);
        let b_invite = self.last_to(self.callee);
        let ringing = reply(&b_invite, "180 Ringing", "");
        self.input(self.callee, &ringing);
        let ok = reply(&b_invite, "200 OK", SDP);
        self.input(self.callee, &ok);
        let a_ok = self.last_to(self.caller);
        let a_tag = header(&a_ok, "To").split("tag=").nth(1).unwrap().to_owned();
        let in_dialog = |method: &str, cseq: u32| {
            format!(
                "{method} sip:twoleg@{LISTENER} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{method}{n};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{n}\r\nTo: <sip:bob@example.com>;tag={a_tag}\r\n\
                 Call-ID: c{n}@127.0.0.1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        self.input(self.caller, &in_dialog("ACK", 1));
        self.input(self.caller, &in_dialog("BYE", 2));
        let bye = self.last_to(self.callee);
        self.input(self.callee, &reply(&bye, "200 OK", ""));
    }
}

/// A callee's response to a request, copying its Via, From, To, Call-ID and CSeq.
fn reply(request: &str, status: &str, body: &str) -> String {
    response_text(request, status, "b", &format!("sip:bob@{CALLEE}"), body)
}

fn basic_calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let mut bench = Bench::new();
    group.bench_function("basic call, INVITE to BYE, both legs", |b| {
        b.iter(|| bench.call())
    });
    group.finish();
    assert!(
        bench.driver.engine().history().total() > 0,
        "calls completed"
    );
}

criterion_group!(benches, basic_calls);
criterion_main!(benches);
