//! Soak: 10,000 simulated calls with mixed behaviours and 5% loss on every link. Every call ends
//! in history exactly once with both legs and the status its behaviour prescribes; nothing is
//! left over; memory stays flat.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use twoleg_core::config::ValidConfig;
use twoleg_core::status::{EndedBy, Outcome};
use twoleg_core::{Event, PendingWork};
use twoleg_sim::{CalleeScript, CallerScript, LinkConditions, Role, Sim, SimConfig, SimPending};

/// Counts live heap bytes of this test binary.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    CallerHangsUp,
    CalleeHangsUp,
    Busy,
    CallerCancels,
    DeadCallee,
    LateOffer,
}

impl Behaviour {
    fn scripts(self) -> (CallerScript, CalleeScript) {
        let ms = Duration::from_millis;
        match self {
            Self::CallerHangsUp => (
                CallerScript {
                    hang_up_after: Some(ms(2_000)),
                    ..Default::default()
                },
                CalleeScript::Answer {
                    after: ms(300),
                    hang_up_after: None,
                },
            ),
            Self::CalleeHangsUp => (
                CallerScript::default(),
                CalleeScript::Answer {
                    after: ms(200),
                    hang_up_after: Some(ms(1_500)),
                },
            ),
            Self::Busy => (
                CallerScript::default(),
                CalleeScript::Reject {
                    code: 486,
                    after: ms(100),
                },
            ),
            Self::CallerCancels => (
                CallerScript {
                    cancel_after: Some(ms(1_000)),
                    ..Default::default()
                },
                CalleeScript::NoAnswer,
            ),
            Self::DeadCallee => (CallerScript::default(), CalleeScript::Silent),
            Self::LateOffer => (
                CallerScript {
                    hang_up_after: Some(ms(1_000)),
                    late_offer: true,
                    ..Default::default()
                },
                CalleeScript::Answer {
                    after: ms(100),
                    hang_up_after: None,
                },
            ),
        }
    }

    /// (final status, outcome, who ended it) as RFC 3261 prescribes.
    fn expected(self) -> (u16, Outcome, EndedBy) {
        match self {
            Self::CallerHangsUp | Self::LateOffer => (200, Outcome::Completed, EndedBy::Caller),
            Self::CalleeHangsUp => (200, Outcome::Completed, EndedBy::Callee),
            Self::Busy => (486, Outcome::Rejected, EndedBy::Callee),
            Self::CallerCancels => (487, Outcome::Cancelled, EndedBy::Caller),
            Self::DeadCallee => (408, Outcome::TimedOut, EndedBy::B2bua),
        }
    }
}

const BEHAVIOURS: [Behaviour; 6] = [
    Behaviour::CallerHangsUp,
    Behaviour::CalleeHangsUp,
    Behaviour::Busy,
    Behaviour::CallerCancels,
    Behaviour::DeadCallee,
    Behaviour::LateOffer,
];

/// Places one batch of calls, runs it to the end and checks every call.
fn batch(sim: &mut Sim, first: usize, count: usize) {
    let mut expected = BTreeMap::new();
    for i in first..first + count {
        let behaviour = BEHAVIOURS[i % BEHAVIOURS.len()];
        let (caller, callee) = behaviour.scripts();
        // Twenty new calls a second.
        let call_id = sim.place_call(
            Duration::from_millis(50 * (i - first) as u64),
            caller,
            callee,
        );
        expected.insert(call_id, behaviour);
    }
    sim.run_until_idle().expect("no livelock");

    let mut ended = BTreeMap::new();
    for (_, event) in sim.take_events() {
        if let Event::CallEnded(record) = event {
            let previous = ended.insert(record.legs[0].call_id.clone(), record);
            assert!(previous.is_none(), "a call ended twice");
        }
    }
    if ended.len() != count {
        for (call_id, behaviour) in &expected {
            if !ended.contains_key(call_id) {
                eprintln!("missing {call_id} {behaviour:?}");
            }
        }
        for call in sim.engine().calls() {
            eprintln!("live: {:?}", call);
        }
        for call in sim
            .caller_calls()
            .filter(|c| !ended.contains_key(&c.call_id))
        {
            eprintln!("caller saw: {call:?}");
        }
    }
    assert_eq!(ended.len(), count, "every call ends in history");
    for (call_id, behaviour) in &expected {
        let record = &ended[call_id];
        let (status, outcome, ended_by) = behaviour.expected();
        assert_eq!(
            (record.final_status, record.outcome, record.ended_by),
            (status, outcome, ended_by),
            "{call_id} ({behaviour:?}): {record:#?}"
        );
        assert_eq!(record.legs[0].call_id, *call_id);
        assert_ne!(record.legs[1].call_id, *call_id);
        assert_ne!(record.legs[0].serial, record.legs[1].serial);
    }
    let agents = sim.take_finished_calls();
    let callers: BTreeMap<_, _> = agents
        .iter()
        .filter(|c| c.role == Role::Caller)
        .map(|c| (c.call_id.clone(), c))
        .collect();
    assert_eq!(callers.len(), count, "every caller finished");
    for (call_id, behaviour) in &expected {
        let (status, _, _) = behaviour.expected();
        assert_eq!(
            callers[call_id].final_status,
            Some(status),
            "{call_id} ({behaviour:?}) at the caller"
        );
    }
    assert_eq!(sim.engine().call_count(), 0, "no call left over");
    assert_eq!(
        sim.engine().pending_work(),
        PendingWork::default(),
        "no transaction or timer left over"
    );
    assert_eq!(
        sim.pending(),
        SimPending::default(),
        "nothing live at the agents, nothing in flight"
    );
}

/// The same behaviours with every call's media anchored (both legs Best effort): offers go
/// out as opportunistic SRTP, the agents answer in the clear, retransmitted answers are
/// rewritten the same; every port pair comes back.
#[test]
fn two_thousand_anchored_calls_with_five_percent_loss() {
    let mut config = ValidConfig::default_config().config().clone();
    config.zones.insert(
        0,
        twoleg_core::config::Zone {
            name: "local".to_owned(),
            peers: vec!["127.0.0.1".to_owned()],
            media_encryption_mode: twoleg_core::config::MediaEncryptionMode::BestEffort,
            ..Default::default()
        },
    );
    config.encryption_b2bua.max_calls = 1_000;
    let mut sim = Sim::new(
        ValidConfig::validate(config).expect("a valid config"),
        SimConfig {
            seed: 3711,
            link: LinkConditions {
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(10),
                loss: 0.05,
            },
            keep_log: false,
            ..SimConfig::default()
        },
    );
    batch(&mut sim, 0, 1_000);
    batch(&mut sim, 1_000, 1_000);
    let anchored = sim
        .engine()
        .history()
        .iter()
        .filter(|record| {
            record
                .media
                .as_ref()
                .is_some_and(|m| m.component == "B2BUA")
        })
        .count();
    assert_eq!(
        anchored,
        sim.engine().history().len(),
        "every call was anchored"
    );
}

#[test]
fn ten_thousand_calls_with_five_percent_loss() {
    let config = ValidConfig::default_config();
    let mut sim = Sim::new(
        config,
        SimConfig {
            seed: 4475,
            link: LinkConditions {
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(10),
                loss: 0.05,
            },
            keep_log: false,
            ..SimConfig::default()
        },
    );
    // rsip reads every SIP message the engine writes as TwoLeg does.
    let checked = std::rc::Rc::new(std::cell::Cell::new(0_u64));
    let count = checked.clone();
    sim.inspect(move |transmit| {
        if !twoleg_core::turn::looks_like_stun(&transmit.contents) {
            twoleg_tests::oracle::check(&transmit.contents, false);
            count.set(count.get() + 1);
        }
    });
    // Warm-up: fills history to its bound (500), so what follows must not grow.
    batch(&mut sim, 0, 1_000);
    let warm = LIVE.load(Ordering::Relaxed);
    for round in 1..10 {
        batch(&mut sim, round * 1_000, 1_000);
    }
    let after = LIVE.load(Ordering::Relaxed);
    eprintln!("live heap after the warm-up: {warm} bytes; after 9,000 more calls: {after} bytes");
    assert_eq!(sim.engine().history().total(), 10_000);
    assert_eq!(sim.engine().history().len(), 500);
    assert!(
        after <= warm + warm / 10 + 64 * 1024,
        "memory grew from {warm} to {after} bytes over 9,000 calls"
    );
    assert!(
        checked.get() > 70_000,
        "rsip read every message: {}",
        checked.get()
    );
    let counters = sim.engine().counters();
    assert!(
        counters.retransmissions > 0,
        "5% loss makes retransmissions happen"
    );
}
