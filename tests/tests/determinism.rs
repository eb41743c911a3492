//! The same seed and the same inputs give byte-identical transmits; another seed does not.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Instant, Transport};
use twoleg_sim::{
    CalleeScript, CallerScript, LinkConditions, ReplayIn, ReplayOut, Sim, SimConfig, replay,
};

/// Drives an engine with a fixed list of inputs (two calls, one cancelled, retransmissions
/// and timeouts for 40 s) and returns every transmit, with its time.
fn transmits(seed: u64) -> Vec<ReplayOut> {
    let engine = B2bua::new(config(), Instant::ZERO, seed);
    replay(engine, &script(), Instant::from_millis(40_000)).expect("the script drives cleanly")
}

fn script() -> Vec<ReplayIn> {
    [
        (0, invite("d1", "z9hG4bKd1", 1, 70, "", SDP)),
        (5, invite("d2", "z9hG4bKd2", 1, 70, "", "")),
        (10, cancel("d2", "z9hG4bKd2", 1)),
    ]
    .into_iter()
    .map(|(at_ms, text)| ReplayIn {
        at_ms,
        transport: Transport::Udp,
        connection: None,
        source: addr(CALLER),
        destination: addr(B2BUA),
        text,
    })
    .collect()
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

/// The transcript of a fixed seed and a fixed script, checked in: any change to what the engine
/// sends for them (a new RNG, a changed draw order, a changed message) shows up here, to be
/// reviewed and the file regenerated with `TWOLEG_BLESS=1`.
#[test]
fn a_fixed_seed_and_script_give_the_checked_in_transcript() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/golden/two_calls.jsonl");
    let actual: String = transmits(99)
        .iter()
        .map(|out| serde_json::to_string(out).expect("plain data") + "\n")
        .collect();
    if std::env::var_os("TWOLEG_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("writable");
        std::fs::write(&path, &actual).expect("writable");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with TWOLEG_BLESS=1 to write it",
            path.display()
        )
    });
    for (number, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(got, want, "line {} of {}", number + 1, path.display());
    }
    assert_eq!(actual.lines().count(), expected.lines().count());
}
