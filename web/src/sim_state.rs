//! The simulator outside the reducer: the engine and the simulated network are large mutable
//! state, kept in a `use_mut_ref` and advanced by a timer; after each advance a snapshot goes to
//! the reducer for rendering.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use twoleg_core::config::ValidConfig;
use twoleg_core::status::{CallRecord, CallStatus, DestinationStatus};
use twoleg_core::turn::Health;
use twoleg_core::{Event, Instant, Transport};
use twoleg_sim::{
    CalleeScript, CallerScript, Datagram, LinkConditions, MediaSecurity, Sim, SimConfig,
};
use yew::Reducible;

/// How fast virtual time runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speed {
    RealTime,
    TenTimes,
    AsFastAsPossible,
}

/// The simulator and what it is doing.
pub(crate) struct SimHandle {
    pub(crate) sim: Option<Sim>,
    pub(crate) speed: Speed,
    /// Wall-clock milliseconds when the current batch was placed, and how many calls ended before.
    pub(crate) batch_started: Option<(f64, u64)>,
    /// The ladder as last shown: copied again only when the simulator sent more datagrams.
    ladder: std::cell::RefCell<Rc<Vec<Datagram>>>,
}

impl Default for SimHandle {
    fn default() -> Self {
        Self {
            sim: None,
            speed: Speed::TenTimes,
            batch_started: None,
            ladder: Default::default(),
        }
    }
}

/// What the user chose on the simulator page.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    pub(crate) caller: CallerScript,
    pub(crate) callee: CalleeScript,
    pub(crate) calls: u32,
    /// Milliseconds between two calls of a batch.
    pub(crate) spacing_ms: u64,
    pub(crate) link: LinkConditions,
    pub(crate) seed: u64,
    /// How the caller reaches TwoLeg (fixed for the life of a simulator).
    pub(crate) caller_transport: Transport,
    /// RTP packets each end sends once a call is confirmed (fixed for the life of a simulator).
    pub(crate) media_packets: u32,
    /// What media the callees accept (fixed for the life of a simulator).
    pub(crate) callee_media: MediaSecurity,
    /// Where the caller sends from (fixed for the life of a simulator).
    pub(crate) caller_address: SocketAddr,
}

impl SimHandle {
    /// Places the plan's calls, starting a simulator for `config` if none runs.
    pub(crate) fn place(&mut self, config: &ValidConfig, plan: &Plan, wall_ms: f64) {
        let sim = self.sim.get_or_insert_with(|| {
            Sim::new(
                config.clone(),
                SimConfig {
                    seed: plan.seed,
                    link: plan.link,
                    keep_log: plan.calls <= 50,
                    caller_transport: plan.caller_transport,
                    media_packets: plan.media_packets,
                    callee_media: plan.callee_media,
                    caller: plan.caller_address,
                    ..SimConfig::default()
                },
            )
        });
        for i in 0..plan.calls {
            sim.place_call(
                Duration::from_millis(plan.spacing_ms * u64::from(i)),
                plan.caller.clone(),
                plan.callee,
            );
        }
        let ended = sim.engine().history().total();
        self.batch_started = Some((wall_ms, ended));
    }

    /// Advances virtual time by one tick of `tick_ms` wall milliseconds at the chosen speed.
    pub(crate) fn tick(&mut self, tick_ms: u64) {
        let Some(sim) = &mut self.sim else {
            return;
        };
        let result = match self.speed {
            Speed::RealTime => sim.run_until(sim.now() + Duration::from_millis(tick_ms)),
            Speed::TenTimes => sim.run_until(sim.now() + Duration::from_millis(tick_ms * 10)),
            Speed::AsFastAsPossible => sim.run_until_idle(),
        };
        if let Err(e) = result {
            gloo::console::error!(format!("simulator stopped: {e}"));
        }
    }

    /// The ladder for a view: the last copy while nothing was added, a fresh one otherwise.
    fn ladder_snapshot(&self, ladder: &[Datagram]) -> Rc<Vec<Datagram>> {
        let mut shown = self.ladder.borrow_mut();
        let unchanged = shown.len() == ladder.len()
            && shown.last().map(|d| d.id) == ladder.last().map(|d| d.id);
        if !unchanged {
            *shown = Rc::new(ladder.to_vec());
        }
        Rc::clone(&shown)
    }

    /// A snapshot for rendering.
    pub(crate) fn view(&self, wall_ms: f64) -> SimView {
        let Some(sim) = &self.sim else {
            return SimView::default();
        };
        let engine = sim.engine();
        let ended = engine.history().total();
        let rate = self.batch_started.and_then(|(started, before)| {
            let seconds = (wall_ms - started) / 1000.0;
            (seconds > 0.0 && ended > before).then(|| (ended - before) as f64 / seconds)
        });
        SimView {
            now: sim.now(),
            calls: engine.calls().collect(),
            history: engine.history().iter().rev().take(1_000).cloned().collect(),
            history_total: ended,
            ladder: self.ladder_snapshot(sim.ladder()),
            live_at_agents: sim.pending().agent_calls,
            calls_per_second: rate,
            refused: refused(sim),
            turn_health: engine
                .turn_servers()
                .iter()
                .map(|(_, endpoint, health)| (endpoint.address, health))
                .collect(),
            destinations: engine.destinations(),
        }
    }
}

/// What the pages render.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SimView {
    pub(crate) now: Instant,
    pub(crate) calls: Vec<CallStatus>,
    /// Newest first.
    pub(crate) history: Vec<CallRecord>,
    pub(crate) history_total: u64,
    pub(crate) ladder: Rc<Vec<Datagram>>,
    pub(crate) live_at_agents: usize,
    pub(crate) calls_per_second: Option<f64>,
    /// Every TURN address/port combination of the simulated engine, with its health.
    pub(crate) turn_health: Vec<(SocketAddr, Health)>,
    /// Every route destination of the simulated engine, with its health.
    pub(crate) destinations: Vec<DestinationStatus>,
    /// The latest requests TwoLeg refused before a call existed, newest first.
    pub(crate) refused: Vec<RefusedRequest>,
}

/// A request TwoLeg refused (a 488 for media policy, a 404 for no route, ...): no call, no
/// history record, so the simulator lists them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RefusedRequest {
    pub(crate) at: Instant,
    pub(crate) source: SocketAddr,
    pub(crate) method: String,
    pub(crate) status: u16,
    pub(crate) reason: String,
}

/// The last 20 refusals among the kept events, newest first.
fn refused(sim: &Sim) -> Vec<RefusedRequest> {
    sim.events()
        .iter()
        .rev()
        .filter_map(|(at, event)| match event {
            Event::Refused {
                source,
                method,
                status,
                reason,
            } => Some(RefusedRequest {
                at: *at,
                source: *source,
                method: method.to_string(),
                status: status.code(),
                reason: reason.to_string(),
            }),
            _ => None,
        })
        .take(20)
        .collect()
}

/// The only thing that changes a `SimView`: a new snapshot.
pub(crate) struct Snapshot(pub(crate) SimView);

impl Reducible for SimView {
    type Action = Snapshot;

    fn reduce(self: Rc<Self>, action: Snapshot) -> Rc<Self> {
        Rc::new(action.0)
    }
}
