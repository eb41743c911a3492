//! The same seed and the same inputs give byte-identical transmits; another seed does not.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::ValidConfig;
use twoleg_core::sim::{CalleeScript, CallerScript, LinkConditions, Sim, SimConfig};
use twoleg_core::{B2bua, Input, Instant, Output, Receive};

/// Drives an engine with a fixed list of inputs and returns every transmit, with its time.
fn transmits(seed: u64) -> Vec<(u64, String, Vec<u8>)> {
    let mut engine = B2bua::new(config(), Instant::ZERO, seed);
    let inputs = [
        (0, invite("d1", "z9hG4bKd1", 1, 70, "", SDP)),
        (5, invite("d2", "z9hG4bKd2", 1, 70, "", "")),
        (10, cancel("d2", "z9hG4bKd2", 1)),
    ];
    let mut out = Vec::new();
    let mut deadline = Instant::NEVER;
    let feed = |engine: &mut B2bua, input: Input<'_>, out: &mut Vec<_>, deadline: &mut Instant| {
        let now = match &input {
            Input::Receive(now, _) | Input::Timeout(now) => *now,
        };
        engine.handle_input(input).unwrap();
        loop {
            match engine.poll_output() {
                Output::Transmit(t) => {
                    out.push((now.as_millis(), t.destination.to_string(), t.contents))
                }
                Output::Event(_) => {}
                Output::Timeout(at) => {
                    *deadline = at;
                    break;
                }
            }
        }
    };
    for (at, text) in &inputs {
        let now = Instant::from_millis(*at);
        while deadline <= now {
            feed(
                &mut engine,
                Input::Timeout(deadline),
                &mut out,
                &mut deadline,
            );
        }
        let receive = Receive {
            source: addr(CALLER),
            destination: addr(B2BUA),
            contents: text.as_bytes(),
        };
        feed(
            &mut engine,
            Input::Receive(now, receive),
            &mut out,
            &mut deadline,
        );
    }
    while deadline < Instant::from_millis(40_000) {
        feed(
            &mut engine,
            Input::Timeout(deadline),
            &mut out,
            &mut deadline,
        );
    }
    out
}

#[test]
fn the_engine_alone_is_deterministic() {
    let first = transmits(99);
    assert!(
        first.len() > 20,
        "the run exercises retransmissions: {}",
        first.len()
    );
    assert_eq!(first, transmits(99));
    assert_ne!(
        first,
        transmits(100),
        "tags, branches and Call-IDs come from the seed"
    );
}

fn simulated(seed: u64) -> (Vec<(Instant, Vec<u8>)>, Vec<String>) {
    let mut sim = Sim::new(
        ValidConfig::from_json(twoleg_core::config::EXAMPLE_CONFIG).unwrap(),
        SimConfig {
            seed,
            link: LinkConditions {
                latency: Duration::from_millis(15),
                jitter: Duration::from_millis(10),
                loss: 0.1,
            },
            ..SimConfig::default()
        },
    );
    for i in 0..40 {
        let uri = if i % 2 == 0 {
            "sip:bob@lync.example.com"
        } else {
            "sip:+441234@example.com"
        };
        sim.place_call(
            Duration::from_millis(100 * i),
            CallerScript {
                uri: Some(uri.to_owned()),
                hang_up_after: Some(Duration::from_secs(1)),
                ..Default::default()
            },
            CalleeScript::Answer {
                after: Duration::from_millis(50 * i),
                hang_up_after: None,
            },
        );
    }
    sim.run_until_idle().unwrap();
    let ladder = sim
        .ladder()
        .iter()
        .map(|d| (d.sent_at, d.contents.clone()))
        .collect();
    let turn = sim
        .engine()
        .history()
        .iter()
        .map(|r| format!("{:?}", r.turn))
        .collect();
    (ladder, turn)
}

#[test]
fn a_lossy_simulation_replays_byte_for_byte() {
    let (ladder, turn) = simulated(5);
    assert_eq!(turn.len(), 40);
    assert_eq!((ladder.clone(), turn.clone()), simulated(5));
    assert_ne!(ladder, simulated(6).0);
}
