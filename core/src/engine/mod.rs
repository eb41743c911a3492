//! The B2BUA engine: the sans-IO state machine every host drives.
//!
//! One file per concern: [`receive`] demultiplexes what comes in, [`transactions`] holds the
//! transaction table, [`call`] the bridging of one leg onto the other (a file per phase of a
//! call), [`timers`] the deadline table, [`records`] moves finished calls to history,
//! [`lync_leg`], [`probes`] and [`media_ports`] the TURN side.

mod access;
mod anchor;
mod call;
mod destinations;
mod flood;
mod lingering;
mod lync_leg;
mod media_ports;
mod names;
mod pass_through;
mod probes;
mod receive;
mod records;
mod resolving;
mod timers;
mod transactions;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use rand::SeedableRng;
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};

use self::call::{Call, CallId, RelayId};
use self::lingering::Lingering;
use self::media_ports::MediaPorts;
use self::timers::TimerKey;
use self::transactions::TxEntry;
use crate::config::ValidConfig;
use crate::event::Event;
use crate::hop::Hop;
use crate::scheduler::Scheduler;
use crate::sip::Method;
use crate::status::{CallStatus, History, Side};
use crate::time::Instant;
use crate::transaction::{DialogKey, MergeKey, Timing, TxId, TxKey};
use crate::turn::{Allocations, HealthProbes, TurnServerTable};
use crate::{ConnectionId, Input, Output, Transmit, Transport};

/// Methods TwoLeg handles (the `Allow` header of its 405 and OPTIONS answers). Inside a
/// call's dialog INFO, UPDATE, MESSAGE and NOTIFY are relayed to the other leg; outside one,
/// only INVITE and OPTIONS mean something (the others get 481).
pub(crate) const ALLOWED: &[Method] = &[
    Method::INVITE,
    Method::ACK,
    Method::CANCEL,
    Method::BYE,
    Method::OPTIONS,
    Method::UPDATE,
    Method::INFO,
    Method::PRACK,
    Method::MESSAGE,
    Method::NOTIFY,
];

/// Option tags TwoLeg supports (its `Supported`; 420 to a `Require` of any other): session
/// timers (RFC 4028) and reliable provisionals (RFC 3262).
pub(crate) const SUPPORTED: &[&str] = &["timer", "100rel"];

/// How long a refused new call is asked to wait before trying again (`Retry-After` of the 503
/// sent while shutting down), in seconds.
pub(crate) const SHUTDOWN_RETRY_AFTER_S: u32 = 60;

/// A misuse of the engine by its host (never caused by network input).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An input carried a time earlier than one before it.
    #[error("time went backwards: {now} is before {last}")]
    TimeWentBackwards {
        /// The time of this input.
        now: Instant,
        /// The latest time seen before.
        last: Instant,
    },
    /// No live call has this tag.
    #[error("no live call has tag {0}")]
    UnknownCall(String),
}

/// Counters hosts export as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Datagrams handed in.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Messages sent again (transaction, 2xx and TURN retransmissions).
    pub retransmissions: u64,
    /// Datagrams that did not parse.
    pub parse_errors: u64,
    /// Calls started.
    pub calls_started: u64,
    /// TURN relays granted (two per call with relays: RTP and RTCP).
    pub turn_relays_granted: u64,
    /// Calls whose relay allocation failed on a server (each failed-over server counts).
    pub turn_failures: u64,
    /// Allocations alive now (allocating, granted or being deleted).
    pub turn_allocations_open: u64,
    /// TURN health probes sent.
    pub turn_probes_sent: u64,
    /// TURN health probes answered by the probed address.
    pub turn_probes_answered: u64,
}

/// What the engine holds that is still to be done: zero of each once it has been idle long
/// enough (nothing leaks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingWork {
    /// Transactions alive.
    pub transactions: usize,
    /// Deadlines in the timer table.
    pub deadlines: usize,
    /// Media port pairs in use (anchored streams and TURN relays).
    pub media_ports: usize,
}

/// What a transaction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Answered by the engine itself (OPTIONS, errors): nothing follows.
    Engine,
    /// A relayed request of a call (the server or the client side).
    Relay(CallId, RelayId),
    /// A BYE TwoLeg sent on a leg.
    Bye(CallId, Side),
    /// An UPDATE TwoLeg sent on a leg to refresh its session (RFC 4028).
    Refresh(CallId, Side),
    /// A CANCEL TwoLeg sent, or a request TwoLeg answers inside a call.
    Call(CallId),
    /// An OPTIONS ping to a route's destination (route index, destination index).
    Ping(usize, usize),
    /// An initial INVITE left for the next destination for want of an answer (by serial in
    /// the abandoned table): cancelled once it rings, hung up if it answers.
    Abandoned(u64),
}

/// Mixed into the engine's seed for the key generator, so that keys and the other random
/// choices (tags, branches) never come from the same stream.
const KEY_SEED_SALT: u64 = 0x5a17_c0de_f00d_5eed;

/// The B2BUA: feed it [`Input`]s, drain its [`Output`]s.
///
/// Its methods come in four families (as quinn-proto's `Connection`):
///
/// - **getters** (`&self`): [`calls`](Self::calls), [`call_count`](Self::call_count),
///   [`history`](Self::history), [`config`](Self::config), [`counters`](Self::counters),
///   [`turn_servers`](Self::turn_servers), [`turn_allocations`](Self::turn_allocations),
///   [`pending_work`](Self::pending_work), [`is_idle`](Self::is_idle);
/// - **`handle_input`**: a datagram or the passing of time;
/// - **commands** from the host: [`disconnect`](Self::disconnect) and
///   [`shut_down`](Self::shut_down);
/// - **`poll_output`**: what to send, what happened and the next deadline.
///
/// Every `handle_input` and every command is a mutation: drain `poll_output` until it returns
/// [`Output::Timeout`] before the next one. Times never go backwards.
pub struct B2bua {
    config: ValidConfig,
    timing: Timing,
    rng: ChaCha8Rng,
    now: Instant,
    outputs: VecDeque<Output>,
    timers: Scheduler<TimerKey>,
    // Transactions.
    txs: BTreeMap<TxId, TxEntry>,
    tx_index: BTreeMap<TxKey, TxId>,
    /// Open INVITE server transactions by (Call-ID, From tag, CSeq) for merged-request detection.
    merge_index: BTreeMap<MergeKey, TxId>,
    /// Transactions past their last message, kept only to absorb retransmissions.
    lingering: Lingering,
    /// Stream connections with bytes of a message not yet whole.
    streams: BTreeMap<ConnectionId, Vec<u8>>,
    // Calls.
    dialogs: BTreeMap<DialogKey, (CallId, Side)>,
    calls: BTreeMap<CallId, Call>,
    /// Live calls by tag (the name the host, the admin API and media reports use).
    call_tags: BTreeMap<String, CallId>,
    /// Per route (by index): its live calls and when its last calls were admitted.
    route_load: Vec<Load>,
    /// Per listener (by index): the calls that arrived on it.
    listener_load: Vec<Load>,
    /// Per route (by index), per destination: its health.
    destinations: Vec<Vec<destinations::DestinationHealth>>,
    /// The DNS cache and the queries in flight.
    resolver: crate::dns::Resolver,
    /// New INVITEs waiting for DNS answers.
    parked: Vec<resolving::ParkedInvite>,
    /// Host names in dialogs being resolved, with the messages waiting for them.
    names: names::Names,
    /// The names TLS peers' certificates must carry, by address (RFC 5922).
    tls_names: BTreeMap<SocketAddr, String>,
    /// The addresses of the Lync signalling destination, when it is a host name, as last
    /// resolved.
    lync_addresses: Vec<IpAddr>,
    /// Flood protection's view of each source.
    sources: flood::Sources,
    /// The digest nonces issued.
    nonces: crate::auth::Nonces,
    /// INVITEs a call failed over from while they were still calling, by serial.
    abandoned: BTreeMap<u64, destinations::Abandoned>,
    history: History,
    // TURN.
    turn_servers: TurnServerTable,
    allocations: Allocations<CallId>,
    media_ports: MediaPorts,
    // Anchored media.
    /// The encryption B2BUA's port pairs.
    anchor_ports: MediaPorts,
    /// Where TwoLeg's SRTP keys come from: seeded from the engine's seed until the host hands
    /// in OS randomness with [`B2bua::set_key_seed`].
    key_rng: ChaCha20Rng,
    probes: Option<HealthProbes>,
    next_id: u64,
    counters: Counters,
    /// Shutting down: new calls get 503 with Retry-After.
    shutting_down: bool,
}

impl B2bua {
    /// An engine for this config, starting at `now`, drawing every random choice from `seed`.
    pub fn new(config: ValidConfig, now: Instant, seed: u64) -> Self {
        let timers = config.timers();
        let mut scheduler = Scheduler::new();
        let probes = config
            .turn_health()
            .filter(|_| !config.turn_servers().is_empty())
            .map(|policy| HealthProbes::new(policy, config.turn_servers()));
        if probes.is_some() {
            scheduler.set(TimerKey::Probe, now);
        }
        let mut engine = Self {
            timing: Timing {
                t1: timers.t1,
                t2: timers.t2,
                t4: timers.t4,
            },
            rng: ChaCha8Rng::seed_from_u64(seed),
            now,
            outputs: VecDeque::new(),
            timers: scheduler,
            txs: BTreeMap::new(),
            tx_index: BTreeMap::new(),
            merge_index: BTreeMap::new(),
            lingering: Lingering::new(seed),
            streams: BTreeMap::new(),
            dialogs: BTreeMap::new(),
            calls: BTreeMap::new(),
            call_tags: BTreeMap::new(),
            route_load: (0..config.routes().len())
                .map(|_| Load::default())
                .collect(),
            listener_load: (0..config.listeners().len())
                .map(|_| Load::default())
                .collect(),
            destinations: Vec::new(),
            resolver: crate::dns::Resolver::default(),
            parked: Vec::new(),
            names: names::Names::default(),
            tls_names: configured_tls_names(&config),
            lync_addresses: Vec::new(),
            sources: flood::Sources::default(),
            nonces: crate::auth::Nonces::default(),
            abandoned: BTreeMap::new(),
            history: History::new(config.history_max_calls()),
            turn_servers: config.turn_servers().clone(),
            allocations: Allocations::new(),
            media_ports: MediaPorts::new(config.lync().media_ports, seed),
            anchor_ports: MediaPorts::excluding(
                config.encryption().media_ports,
                config.lync().media_ports,
                seed,
            ),
            key_rng: ChaCha20Rng::seed_from_u64(seed ^ KEY_SEED_SALT),
            probes,
            next_id: 1,
            counters: Counters::default(),
            shutting_down: false,
            config,
        };
        engine.start_destinations();
        engine.refresh_lync_addresses();
        engine
    }

    /// Reseeds where TwoLeg's SRTP keys come from. A host that runs live calls hands in 32
    /// bytes from the OS's CSPRNG once, before the first call; without it keys follow the
    /// engine's seed, which keeps a simulation reproducible and its keys predictable.
    pub fn set_key_seed(&mut self, seed: [u8; 32]) {
        self.key_rng = ChaCha20Rng::from_seed(seed);
    }

    /// Hands in a datagram or the passing of time. Drain [`B2bua::poll_output`] afterwards.
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), Error> {
        match input {
            Input::Receive(now, receive) => {
                self.advance(now)?;
                self.handle_receive(receive);
            }
            Input::Timeout(now) => {
                self.advance(now)?;
                self.handle_timeout();
            }
            Input::Closed(now, connection) => {
                self.advance(now)?;
                self.streams.remove(&connection);
            }
            Input::Undeliverable(now, undeliverable) => {
                self.advance(now)?;
                self.on_undeliverable(undeliverable.transport, undeliverable.destination);
            }
            Input::MediaReport(now, report) => {
                self.advance(now)?;
                self.on_media_report(&report);
            }
            Input::Resolved(now, answer) => {
                self.advance(now)?;
                self.on_resolved(answer);
            }
        }
        Ok(())
    }

    /// The next output; [`Output::Timeout`] when there is nothing else, carrying when to call
    /// [`B2bua::handle_input`] with [`Input::Timeout`] at the latest.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        self.outputs.pop_front().unwrap_or_else(|| {
            let next = match (self.timers.next(), self.lingering.next_expiry()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(Instant::NEVER),
            };
            Output::Timeout(next)
        })
    }

    /// Ends a live call from outside (the admin API, the simulator): BYE on answered legs,
    /// CANCEL or a final response on unanswered ones.
    pub fn disconnect(&mut self, now: Instant, tag: &str) -> Result<(), Error> {
        self.advance(now)?;
        let id = *self
            .call_tags
            .get(tag)
            .ok_or_else(|| Error::UnknownCall(tag.to_owned()))?;
        self.disconnect_call(id);
        Ok(())
    }

    /// Stops taking new calls (they get 503 with Retry-After) and ends every live call, for a
    /// graceful shutdown.
    pub fn shut_down(&mut self, now: Instant) -> Result<(), Error> {
        self.advance(now)?;
        self.shutting_down = true;
        self.refuse_all_parked();
        let live: Vec<CallId> = self.calls.keys().copied().collect();
        for id in live {
            self.disconnect_call(id);
        }
        Ok(())
    }

    /// Live calls, both legs each, oldest first.
    pub fn calls(&self) -> impl Iterator<Item = CallStatus> + '_ {
        self.calls.values().map(Call::status)
    }

    /// How many calls are live.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Finished calls, oldest first, bounded by the config.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The config this engine runs.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Counters for metrics.
    pub fn counters(&self) -> Counters {
        Counters {
            turn_allocations_open: self.allocations.len() as u64,
            ..self.counters
        }
    }

    /// What the engine holds that is still to be done.
    pub fn pending_work(&self) -> PendingWork {
        PendingWork {
            transactions: self.txs.len() + self.lingering.len(),
            deadlines: self.timers.len() + self.lingering.len(),
            media_ports: self.anchor_ports.in_use() + self.media_ports.in_use(),
        }
    }

    /// Whether nothing is left to do but periodic health probing: no call, no transaction but
    /// the routes' OPTIONS pings, no allocation, no deadline other than the next probing and
    /// ping rounds and the pings' own.
    pub fn is_idle(&self) -> bool {
        // Cheap checks first: the simulator asks after every step.
        if !self.calls.is_empty()
            || !self.parked.is_empty()
            || !self.names.is_empty()
            || self.resolver.is_waiting()
            || !self.allocations.is_empty()
        {
            return false;
        }
        let mut periodic = usize::from(self.probes.is_some())
            + self
                .config
                .routes()
                .iter()
                .filter(|route| route.ping.is_some())
                .count();
        let mut busy = 0;
        for (id, entry) in &self.txs {
            if matches!(entry.owner, Owner::Ping(..)) {
                periodic += crate::transaction::Timer::ALL
                    .iter()
                    .filter(|timer| self.timers.contains(&TimerKey::Tx(*id, **timer)))
                    .count();
            } else {
                busy += 1;
            }
        }
        // TwoLeg sends OPTIONS only as pings: their finished transactions linger a while.
        let pings_lingering = self
            .lingering
            .count(|key| matches!(key, TxKey::Client { method, .. } if *method == Method::OPTIONS));
        self.calls.is_empty()
            && self.parked.is_empty()
            && !self.resolver.is_waiting()
            && busy == 0
            && self.lingering.len() == pings_lingering
            && self.allocations.is_empty()
            && self.timers.len() <= periodic
    }

    /// The B2BUA TURN server table (with health).
    pub fn turn_servers(&self) -> &TurnServerTable {
        &self.turn_servers
    }

    /// TURN allocations alive now (allocating, granted or being deleted).
    pub fn turn_allocations(&self) -> usize {
        self.allocations.len()
    }

    fn advance(&mut self, now: Instant) -> Result<(), Error> {
        if now < self.now {
            return Err(Error::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        self.now = now;
        Ok(())
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn transmit(&mut self, hop: &Hop, contents: Vec<u8>) {
        let (hop, contents) = match hop.awaiting {
            Some(_) => match self.hold_for_name(hop, contents) {
                Some(settled) => settled,
                None => return,
            },
            None => (*hop, contents),
        };
        self.counters.datagrams_out += 1;
        let server_name = match hop.transport {
            Transport::Tls => self.tls_names.get(&hop.peer).cloned(),
            _ => None,
        };
        self.outputs.push_back(Output::Transmit(Transmit {
            transport: hop.transport,
            connection: hop.connection,
            source: hop.local,
            destination: hop.peer,
            server_name,
            contents,
        }));
    }

    /// A TLS peer at `address` was found by resolving `host`: its certificate must carry that
    /// name, unless the config names another for it.
    fn note_server_name(&mut self, transport: Transport, address: SocketAddr, host: &str) {
        if transport != Transport::Tls || self.tls_names.contains_key(&address) {
            return;
        }
        if self.tls_names.len() >= TLS_NAMES_MAX {
            self.tls_names = configured_tls_names(&self.config);
        }
        self.tls_names.insert(address, host.to_owned());
    }

    fn retransmit(&mut self, hop: &Hop, contents: Vec<u8>) {
        self.counters.retransmissions += 1;
        let start_line = first_line(&contents);
        self.emit(Event::Retransmitted {
            destination: hop.peer,
            start_line,
        });
        self.transmit(hop, contents);
    }
}

/// Names of TLS peers remembered at most; past it, those learnt from DNS are forgotten.
const TLS_NAMES_MAX: usize = 4_096;

/// The names the config gives TLS destinations' certificates, by address.
fn configured_tls_names(config: &ValidConfig) -> BTreeMap<SocketAddr, String> {
    let mut names = BTreeMap::new();
    for route in config.routes() {
        let Some(name) = &route.tls_server_name else {
            continue;
        };
        for destination in &route.destinations {
            if let Some(address) = destination.target.address() {
                names.insert(address, name.clone());
            }
        }
    }
    names
}

/// The `Allow` header TwoLeg sends.
pub(crate) fn allow_header() -> String {
    let names: Vec<&str> = ALLOWED.iter().map(Method::as_str).collect();
    names.join(", ")
}

fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl std::fmt::Debug for B2bua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("B2bua")
            .field("now", &self.now)
            .field("calls", &self.calls.len())
            .field("transactions", &self.txs.len())
            .field("lingering", &self.lingering.len())
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}

/// One route's or listener's load, against its limits.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// Calls on it now.
    pub(crate) live: usize,
    /// When calls were admitted in the last second.
    pub(crate) admitted: VecDeque<Instant>,
}

impl Load {
    /// Whether one more call fits now: `None` when it does, else the Retry-After, in seconds,
    /// of its 503. Only calls that were opened (see [`Self::open`]) count.
    pub(crate) fn refusal(
        &mut self,
        now: Instant,
        max_calls: Option<usize>,
        per_second: Option<usize>,
    ) -> Option<u32> {
        while self
            .admitted
            .front()
            .is_some_and(|at| now.saturating_since(*at) >= std::time::Duration::from_secs(1))
        {
            self.admitted.pop_front();
        }
        if per_second.is_some_and(|limit| self.admitted.len() >= limit) {
            return Some(1);
        }
        if max_calls.is_some_and(|limit| self.live >= limit) {
            return Some(5);
        }
        None
    }

    /// A call was admitted and opened: one more live, and one more this second when calls per
    /// second are limited.
    pub(crate) fn open(&mut self, now: Instant, per_second: Option<usize>) {
        self.live += 1;
        if per_second.is_some() {
            self.admitted.push_back(now);
        }
    }
}
