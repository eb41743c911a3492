//! A deterministic simulator: the real engine, scripted callers and callees, and a lossy network
//! between them, all in virtual time.
//!
//! The driver always advances to the earliest deadline among the engine, the agents and the
//! datagrams in flight, so a simulated hour takes as long as the work in it. A run that keeps
//! working without time moving stops with [`SimError::Livelock`].
//!
//! ```
//! use std::time::Duration;
//! use twoleg_core::config::ValidConfig;
//! use twoleg_sim::{CalleeScript, CallerScript, Sim, SimConfig};
//!
//! let mut sim = Sim::new(ValidConfig::default_config(), SimConfig::default());
//! sim.place_call(
//!     Duration::ZERO,
//!     CallerScript { hang_up_after: Some(Duration::from_secs(1)), ..Default::default() },
//!     CalleeScript::Answer { after: Duration::from_millis(200), hang_up_after: None },
//! );
//! sim.run_until_idle().unwrap();
//! assert_eq!(sim.engine().history().len(), 1);
//! ```

mod agent;
mod drive;
mod media_relay;
mod network;
mod peer_text;
mod script;
mod turn_server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use agent::{AgentCall, AgentMedia, MediaSecurity, Role, SCRIPT_HEADER};
pub use drive::{DriveError, Driver, Engine, LIVELOCK_STEPS, ReplayIn, ReplayOut, replay};
pub use network::{Datagram, LinkConditions};
pub use peer_text::{header_value, response_text};
pub use script::{CalleeScript, CallerScript, SimCredentials};
pub use turn_server::SimTurnServer;

use self::agent::{Agent, MediaSetup, PORTS_PER_AGENT};
use self::media_relay::MediaRelay;
use self::network::Network;
use twoleg_core::Event;
use twoleg_core::Instant;
use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, ConnectionId, Transmit, Transport};

/// What the simulation still holds besides the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimPending {
    /// Calls still going on at the scripted agents.
    pub agent_calls: usize,
    /// Datagrams in flight on the network.
    pub in_flight: usize,
    /// Anchored stream legs the simulated media plane still serves.
    pub media_legs: usize,
}

impl<E: std::fmt::Display> From<DriveError<E>> for SimError {
    fn from(error: DriveError<E>) -> Self {
        match error {
            DriveError::Livelock { at, steps } => Self::Livelock { at, steps },
            DriveError::Engine(error) => Self::Driver(error.to_string()),
        }
    }
}

/// How the simulation is set up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed of the engine's RNG; the network and agents derive theirs from it.
    pub seed: u64,
    /// Conditions on every link.
    pub link: LinkConditions,
    /// Where the scripted caller sends from.
    pub caller: SocketAddr,
    /// How the scripted caller reaches the engine: UDP (default), TCP or TLS (a stream, to the
    /// first listener of that transport).
    #[serde(default)]
    pub caller_transport: Transport,
    /// At most this many steps without time moving before the run counts as a livelock.
    pub livelock_steps: u64,
    /// Keep every datagram and event (turn off for long batches: then only `CallEnded` events
    /// are kept, until taken).
    pub keep_log: bool,
    /// RTP packets (20 ms apart) each end sends once a call is confirmed; 0: signalling only.
    #[serde(default)]
    pub media_packets: u32,
    /// What media the scripted callees accept.
    #[serde(default)]
    pub callee_media: MediaSecurity,
    /// The scripted DNS: what the engine's lookups find (answered at once; a name and type
    /// not listed has no records). Routes' host names get a scripted callee on each address
    /// they resolve to.
    #[serde(default)]
    pub dns: Vec<DnsEntry>,
}

/// The records of one name and type in the scripted DNS.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsEntry {
    /// The name, without a trailing dot.
    pub name: String,
    /// The type.
    pub kind: twoleg_core::dns::RecordKind,
    /// Its records.
    pub records: Vec<twoleg_core::dns::DnsRecord>,
}

impl DnsEntry {
    /// The answer to `query` from these entries: their records, or none (remembered 30 s).
    pub fn answer(
        entries: &[Self],
        query: &twoleg_core::dns::DnsQuery,
    ) -> twoleg_core::dns::DnsAnswer {
        let records = entries
            .iter()
            .find(|e| e.kind == query.kind && e.name.eq_ignore_ascii_case(&query.name))
            .map(|e| e.records.clone())
            .unwrap_or_default();
        twoleg_core::dns::DnsAnswer {
            id: query.id,
            records,
            negative_ttl_s: 30,
            failed: false,
        }
    }

    /// The addresses a route's host names reach in this DNS: each A/AAAA record of a name
    /// with the port of the destination; of a bare name, its SRV targets (through NAPTR, or
    /// the transports' SRV names) with their ports, and its own addresses on 5060 and 5061.
    fn callee_addresses(
        entries: &[Self],
        route: &twoleg_core::config::RoutePlan,
    ) -> Vec<SocketAddr> {
        use twoleg_core::dns::{RecordData, RecordKind};
        let records = |name: &str, kind: RecordKind| -> Vec<&RecordData> {
            let name = name.trim_end_matches('.');
            entries
                .iter()
                .filter(|e| e.kind == kind && e.name.eq_ignore_ascii_case(name))
                .flat_map(|e| e.records.iter().map(|r| &r.data))
                .collect()
        };
        let with_port = |name: &str, port: u16| -> Vec<SocketAddr> {
            [RecordKind::A, RecordKind::Aaaa]
                .into_iter()
                .flat_map(|kind| records(name, kind))
                .filter_map(|data| match data {
                    RecordData::Address(ip) => Some(SocketAddr::new(*ip, port)),
                    _ => None,
                })
                .collect()
        };
        let mut out = Vec::new();
        for destination in &route.destinations {
            let twoleg_core::config::Target::Name { host, port } = &destination.target else {
                continue;
            };
            if let Some(port) = port {
                out.extend(with_port(host, *port));
                continue;
            }
            out.extend(with_port(host, 5060));
            out.extend(with_port(host, 5061));
            let mut srv_names: Vec<String> = ["_sip._udp", "_sip._tcp", "_sips._tcp"]
                .iter()
                .map(|prefix| format!("{prefix}.{host}"))
                .collect();
            srv_names.extend(
                records(host, RecordKind::Naptr)
                    .into_iter()
                    .filter_map(|data| match data {
                        RecordData::Naptr { replacement, .. } => Some(replacement.clone()),
                        _ => None,
                    }),
            );
            for name in &srv_names {
                for data in records(name, RecordKind::Srv) {
                    if let RecordData::Srv { port, target, .. } = data {
                        out.extend(with_port(target, *port));
                    }
                }
            }
        }
        out
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            link: LinkConditions::default(),
            caller: "127.0.0.1:5080".parse().expect("a literal address"),
            caller_transport: Transport::Udp,
            livelock_steps: 1_000_000,
            keep_log: true,
            media_packets: 0,
            callee_media: MediaSecurity::Rtp,
            dns: Vec::new(),
        }
    }
}

/// Why a run stopped early.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Work kept happening without time moving.
    #[error("livelock: {steps} steps at {at} without time moving")]
    Livelock {
        /// When.
        at: Instant,
        /// How many steps.
        steps: u64,
    },
    /// The host misused the engine (a disconnect of an unknown call, ...).
    #[error("engine error: {0}")]
    Engine(#[from] twoleg_core::Error),
    /// The engine refused an input from the driver (a bug in the driver).
    #[error("driver error: {0}")]
    Driver(String),
}

/// The simulation: engine, agents, network.
#[derive(Debug)]
pub struct Sim {
    driver: Driver<B2bua>,
    network: Network,
    caller: Agent,
    callees: BTreeMap<SocketAddr, Agent>,
    turn_servers: BTreeMap<SocketAddr, SimTurnServer>,
    now: Instant,
    events: Vec<(Instant, Event)>,
    config: SimConfig,
    inspector: Option<Inspector>,
    streams: Streams,
    media: MediaRelay,
}

/// The simulated stream connections: one per (agent, engine listener) pair, numbered as they
/// first carry something.
#[derive(Debug, Default)]
struct Streams {
    by_pair: BTreeMap<(SocketAddr, SocketAddr), ConnectionId>,
    next: u64,
}

impl Streams {
    /// The connection between an agent and an engine listener, opened on first use.
    fn connection(&mut self, agent: SocketAddr, listener: SocketAddr) -> ConnectionId {
        let next = &mut self.next;
        *self.by_pair.entry((agent, listener)).or_insert_with(|| {
            *next += 1;
            ConnectionId(*next)
        })
    }

    /// How an agent's message to `to` travels.
    fn how(
        &mut self,
        transport: Transport,
        agent: SocketAddr,
        to: SocketAddr,
    ) -> (Transport, Option<ConnectionId>) {
        match transport {
            Transport::Udp => (Transport::Udp, None),
            stream => (stream, Some(self.connection(agent, to))),
        }
    }
}

/// Whether a datagram on a media port is STUN (RFC 8489 §5: the top two bits are zero), which
/// goes to the engine's TURN client, not the media plane.
fn is_stun(contents: &[u8]) -> bool {
    contents.first().is_some_and(|first| first >> 6 == 0)
}

/// Sees every transmit of the engine (to check what it writes, in long runs that keep no log).
struct Inspector(Box<dyn FnMut(&Transmit)>);

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspector")
    }
}

impl Sim {
    /// A simulation of this B2BUA config: one scripted caller, and one scripted callee at each
    /// route destination.
    pub fn new(config: ValidConfig, sim: SimConfig) -> Self {
        let entry = config
            .listeners()
            .iter()
            .find(|l| l.transport == sim.caller_transport)
            .unwrap_or_else(|| &config.listeners()[0])
            .address;
        let timers = config.timers();
        // Agents' media ports: 2,000 each from 10000 (below the media port ranges TwoLeg's
        // defaults use, as agents may share TwoLeg's IP).
        let media = |index: usize| MediaSetup {
            base: 10_000 + PORTS_PER_AGENT * (index % 12) as u16,
            packets: sim.media_packets,
            callee: sim.callee_media,
        };
        let mut callees = BTreeMap::new();
        for (i, route) in config.routes().iter().enumerate() {
            let listener = &config.listeners()[route.listener];
            let mut reached: Vec<SocketAddr> = route
                .destinations
                .iter()
                .filter_map(|d| d.target.address())
                .collect();
            reached.extend(DnsEntry::callee_addresses(&sim.dns, route));
            for (j, address) in reached.into_iter().enumerate() {
                let index = callees.len() + 1;
                callees.entry(address).or_insert_with(|| {
                    Agent::new(
                        (address, listener.transport),
                        listener.address,
                        timers.t1,
                        timers.t2,
                        sim.seed ^ (0x0ca1_1ee0 + i as u64 + ((j as u64) << 32)),
                        media(index),
                    )
                });
            }
        }
        let mut turn_servers = BTreeMap::new();
        for (id, endpoint, _) in config.turn_servers().iter() {
            let first_relay_port = 49_152 + 100 * (id.0 as u16 % 160);
            turn_servers.insert(
                endpoint.address,
                SimTurnServer::new(
                    endpoint.address,
                    &endpoint.username,
                    endpoint.password.expose(),
                    first_relay_port,
                ),
            );
        }
        Self {
            driver: Driver::new(B2bua::new(config, Instant::ZERO, sim.seed), Instant::ZERO)
                .expect("a new engine takes no input"),
            network: Network::new(sim.link, sim.seed ^ 0x6e65_7477, sim.keep_log),
            caller: Agent::new(
                (sim.caller, sim.caller_transport),
                entry,
                timers.t1,
                timers.t2,
                sim.seed ^ 0xca11_e500,
                media(0),
            ),
            callees,
            turn_servers,
            now: Instant::ZERO,
            events: Vec::new(),
            config: sim,
            inspector: None,
            streams: Streams::default(),
            media: MediaRelay::default(),
        }
    }

    /// Schedules a call `after` from now; returns the caller's Call-ID.
    pub fn place_call(
        &mut self,
        after: Duration,
        caller: CallerScript,
        callee: CalleeScript,
    ) -> String {
        self.caller.place_call(self.now + after, caller, callee)
    }

    /// Sets the conditions of one direction of one link.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, conditions: LinkConditions) {
        self.network.set_link(from, to, conditions);
    }

    /// Hands a raw datagram to the engine as if `source` had sent it now (for malformed input).
    pub fn inject(&mut self, source: SocketAddr, contents: &[u8]) -> Result<(), SimError> {
        let destination = self.engine().config().listeners()[0].address;
        self.catch_up()?;
        self.driver.receive(source, destination, contents)?;
        self.drain_engine();
        Ok(())
    }

    /// Disconnects a live call through the engine (as the admin API does).
    pub fn disconnect(&mut self, tag: &str) -> Result<(), SimError> {
        self.catch_up()?;
        self.driver
            .command(|engine, now| engine.disconnect(now, tag))??;
        self.drain_engine();
        Ok(())
    }

    /// Brings the engine's clock to the simulation's.
    fn catch_up(&mut self) -> Result<(), SimError> {
        self.driver.advance_until(self.now)?;
        self.drain_engine();
        Ok(())
    }

    /// Runs until nothing is left to do (periodic TURN health probing aside, which never ends).
    pub fn run_until_idle(&mut self) -> Result<(), SimError> {
        self.run_until(Instant::NEVER)
    }

    fn idle(&self) -> bool {
        self.engine().is_idle()
            && self.network.next_delivery().is_none()
            && self.caller.next_timeout().is_none()
            && self.callees.values().all(|c| c.next_timeout().is_none())
    }

    /// Runs until virtual time reaches `until` or nothing is left to do.
    pub fn run_until(&mut self, until: Instant) -> Result<(), SimError> {
        self.drain_engine();
        let mut steps_here = 0;
        loop {
            let Some(next) = self.next_deadline() else {
                return Ok(());
            };
            if until == Instant::NEVER && self.idle() {
                return Ok(());
            }
            if next > until {
                self.now = self.now.max(until.min(next));
                return Ok(());
            }
            if next > self.now {
                self.now = next;
                steps_here = 0;
            }
            steps_here += 1;
            if steps_here > self.config.livelock_steps {
                return Err(SimError::Livelock {
                    at: self.now,
                    steps: steps_here,
                });
            }
            self.step()?;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            Some(self.driver.deadline()).filter(|d| *d != Instant::NEVER),
            self.network.next_delivery(),
            self.caller.next_timeout(),
        ]
        .into_iter()
        .chain(self.callees.values().map(Agent::next_timeout))
        .flatten()
        .min()
    }

    /// Does everything due now.
    fn step(&mut self) -> Result<(), SimError> {
        let now = self.now;
        self.driver.advance_until(now)?;
        self.drain_engine();
        let engine_addresses: Vec<SocketAddr> = self
            .engine()
            .config()
            .listeners()
            .iter()
            .map(|l| l.address)
            .collect();
        // The media plane's counters go to the engine once per step and leg, the latest only
        // (as the runner reports once a second), not once per packet.
        let mut reports = BTreeMap::new();
        while let Some(datagram) = self.network.pop_due(now) {
            let (from, to, contents) = (datagram.from, datagram.to, datagram.contents);
            if let Some(server) = self.turn_servers.get_mut(&to) {
                if let Some(answer) = server.handle(from, &contents) {
                    self.network
                        .send(now, (to, from), (Transport::Udp, None), answer);
                }
            } else if self.media.owns(to) && !is_stun(&contents) {
                let (forward, moved) = self.media.handle_packet(from, to, &contents);
                for report in moved {
                    reports.insert((report.tag.clone(), report.side, report.stream), report);
                }
                if let Some(forward) = forward {
                    self.network.send_media(
                        now,
                        (forward.from, forward.to),
                        forward.contents,
                        forward.note,
                    );
                }
            } else if engine_addresses.contains(&to) || self.driver.is_media_port(to) {
                match (datagram.transport, datagram.connection) {
                    (Transport::Udp, _) | (_, None) => self.driver.receive(from, to, &contents)?,
                    (transport, Some(connection)) => self
                        .driver
                        .receive_stream(transport, connection, from, to, &contents)?,
                }
                self.drain_engine();
            } else if to == self.config.caller {
                self.caller.handle_datagram(now, from, &contents);
            } else if let Some(callee) = self.callees.get_mut(&to) {
                callee.handle_datagram(now, from, &contents);
            } else if self.caller.owns_media(to) {
                self.caller.handle_media(to, &contents);
            } else if let Some(callee) = self.callees.values_mut().find(|c| c.owns_media(to)) {
                callee.handle_media(to, &contents);
            }
        }
        for report in reports.into_values() {
            self.driver.media_report(report)?;
        }
        self.driver.advance_to(now)?;
        self.drain_engine();
        self.caller.handle_timeout(now);
        for callee in self.callees.values_mut() {
            callee.handle_timeout(now);
        }
        let caller = (self.config.caller, self.config.caller_transport);
        for (to, bytes) in self.caller.take_outbox() {
            let how = self.streams.how(caller.1, caller.0, to);
            self.network.send(now, (caller.0, to), how, bytes);
        }
        for (address, callee) in &mut self.callees {
            for (to, bytes) in callee.take_outbox() {
                let how = self.streams.how(callee.transport(), *address, to);
                self.network.send(now, (*address, to), how, bytes);
            }
        }
        let media = std::iter::once(&mut self.caller)
            .chain(self.callees.values_mut())
            .flat_map(Agent::take_media_outbox)
            .collect::<Vec<_>>();
        for (from, to, bytes, note) in media {
            self.network.send_media(now, (from, to), bytes, note);
        }
        Ok(())
    }

    /// Shows every transmit of the engine from now on to `inspect`.
    pub fn inspect(&mut self, inspect: impl FnMut(&Transmit) + 'static) {
        self.inspector = Some(Inspector(Box::new(inspect)));
    }

    /// Puts what the engine sent on the network and keeps what it reported.
    fn drain_engine(&mut self) {
        while let Some((at, transmit)) = self.driver.pop_transmit() {
            if let Some(Inspector(inspect)) = &mut self.inspector {
                inspect(&transmit);
            }
            let how = match transmit.transport {
                Transport::Udp => (Transport::Udp, None),
                transport => (
                    transport,
                    Some(transmit.connection.unwrap_or_else(|| {
                        self.streams
                            .connection(transmit.destination, transmit.source)
                    })),
                ),
            };
            self.network.send(
                at,
                (transmit.source, transmit.destination),
                how,
                transmit.contents,
            );
        }
        let keep_log = self.config.keep_log;
        let events = self.driver.take_events();
        let mut queries = Vec::new();
        for (_, event) in &events {
            self.media.handle_event(event);
            if let Event::Resolve(query) = event {
                queries.push(DnsEntry::answer(&self.config.dns, query));
            }
        }
        self.events.extend(
            events
                .into_iter()
                .filter(|(_, event)| keep_log || matches!(event, Event::CallEnded(_))),
        );
        for answer in queries {
            // An engine that refuses an answer has broken; the run goes on and its calls
            // time out, which the tests see.
            let _ = self.driver.resolved(answer);
            self.drain_engine();
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The engine (call status, history, counters).
    pub fn engine(&self) -> &B2bua {
        self.driver.engine()
    }

    /// Every datagram sent so far, in sending order (empty if `keep_log` is off).
    pub fn ladder(&self) -> &[Datagram] {
        self.network.log()
    }

    /// Every engine event so far, with its time (empty if `keep_log` is off).
    pub fn events(&self) -> &[(Instant, Event)] {
        &self.events
    }

    /// Takes the events recorded so far (to keep memory flat in long runs).
    pub fn take_events(&mut self) -> Vec<(Instant, Event)> {
        std::mem::take(&mut self.events)
    }

    /// Removes and returns what the agents saw of calls that are over at them.
    pub fn take_finished_calls(&mut self) -> Vec<AgentCall> {
        let mut calls = self.caller.take_finished();
        for callee in self.callees.values_mut() {
            calls.extend(callee.take_finished());
        }
        calls
    }

    /// What the scripted caller saw of each call.
    pub fn caller_calls(&self) -> impl Iterator<Item = &AgentCall> {
        self.caller.calls()
    }

    /// What the scripted callees saw of each call.
    pub fn callee_calls(&self) -> impl Iterator<Item = &AgentCall> {
        self.callees.values().flat_map(Agent::calls)
    }

    /// Calls still going on at the agents, and datagrams in flight.
    pub fn pending(&self) -> SimPending {
        SimPending {
            agent_calls: self.caller.live() + self.callees.values().map(Agent::live).sum::<usize>(),
            in_flight: self.network.in_flight(),
            media_legs: self.media.len(),
        }
    }

    /// The simulated TURN servers, one per configured address/port combination.
    pub fn turn_servers(&self) -> impl Iterator<Item = &SimTurnServer> {
        self.turn_servers.values()
    }

    /// The scripted caller's address.
    pub fn caller_address(&self) -> SocketAddr {
        self.config.caller
    }
}
