//! The runner's I/O loop: the canonical sans-IO shape. Drain the engine's outputs (send
//! datagrams, record events), wait for a datagram, an admin request or the next deadline, hand
//! it in, repeat. All protocol logic is in the engine; this file only moves bytes and records.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use twoleg_core::config::ValidConfig;
use twoleg_core::status::{CallRecord, CallStatus, EndedBy, LegState, Outcome};
use twoleg_core::turn::Health;
use twoleg_core::{Counters, Event};

use crate::history::HistoryStore;
use crate::host::{Datagram, Guest, Host, Output, Trap};
use crate::metrics::Metrics;

/// How many outputs one call into the guest returns at most.
const OUTPUT_BATCH: u32 = 256;

/// How long a graceful shutdown waits for live calls to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What wakes the loop.
pub(crate) enum Message {
    /// A datagram arrived on a listener.
    Datagram {
        listener: SocketAddr,
        source: SocketAddr,
        contents: Vec<u8>,
    },
    /// A request from the admin API.
    Admin(AdminRequest),
    /// SIGINT or SIGTERM.
    Shutdown,
}

/// Admin API requests, each with its reply channel.
pub(crate) enum AdminRequest {
    Calls(tokio::sync::oneshot::Sender<String>),
    History(tokio::sync::oneshot::Sender<String>),
    Disconnect(String, tokio::sync::oneshot::Sender<Result<(), String>>),
    Metrics(tokio::sync::oneshot::Sender<String>),
    InjectFault(tokio::sync::oneshot::Sender<()>),
    Turn(tokio::sync::oneshot::Sender<String>),
}

/// One TURN address/port combination as the admin API shows it.
#[derive(Clone, Debug, Serialize)]
struct TurnServerView {
    endpoint: usize,
    server: usize,
    address: SocketAddr,
    description: String,
    health: Health,
}

/// The running B2BUA.
pub(crate) struct Node {
    host: Host,
    guest: Guest,
    config: ValidConfig,
    config_json: String,
    seed: u64,
    sockets: BTreeMap<SocketAddr, UdpSocket>,
    /// Where reader threads feed datagrams (media sockets are bound when first used).
    loop_tx: Option<Sender<Message>>,
    /// Media sockets bound for TURN, with the flag that stops their reader once the engine
    /// freed the port.
    media: BTreeMap<SocketAddr, Arc<AtomicBool>>,
    /// TURN combinations with the health the engine last reported.
    turn_servers: Vec<TurnServerView>,
    epoch: std::time::Instant,
    history: HistoryStore,
    /// Live calls as the engine's events describe them, to close them in history if the
    /// engine instance fails.
    live: BTreeMap<String, CallStatus>,
    metrics: Metrics,
    fault_injection: bool,
}

impl Node {
    pub(crate) fn new(
        config: ValidConfig,
        history: HistoryStore,
        seed: u64,
        fault_injection: bool,
    ) -> anyhow::Result<Self> {
        let config_json = config.config().to_json();
        let host = Host::new()?;
        let epoch = std::time::Instant::now();
        let guest = host.instantiate(&config_json, 0, seed)?;
        let mut sockets = BTreeMap::new();
        for listener in config.listeners() {
            let socket = UdpSocket::bind(listener.address)
                .with_context(|| format!("binding SIP listener udp:{}", listener.address))?;
            tracing::info!(listener = %listener.address, name = %listener.name, "listening for SIP over UDP");
            sockets.insert(listener.address, socket);
        }
        let turn_servers = config
            .turn_servers()
            .iter()
            .map(|(id, endpoint, health)| TurnServerView {
                endpoint: id.0,
                server: endpoint.server,
                address: endpoint.address,
                description: endpoint.description.clone(),
                health,
            })
            .collect();
        Ok(Self {
            host,
            guest,
            config,
            config_json,
            seed,
            sockets,
            loop_tx: None,
            media: BTreeMap::new(),
            turn_servers,
            epoch,
            history,
            live: BTreeMap::new(),
            metrics: Metrics::default(),
            fault_injection,
        })
    }

    /// Starts one reader thread per listener, feeding `tx` (and later one per media socket).
    pub(crate) fn spawn_readers(&mut self, tx: &Sender<Message>) -> anyhow::Result<()> {
        self.loop_tx = Some(tx.clone());
        for (&listener, socket) in &self.sockets {
            spawn_reader(listener, socket, tx.clone(), None)?;
        }
        Ok(())
    }

    /// The socket to send from: a listener, or a media port (TURN allocations are made from
    /// the Lync B2BUA's media port range), bound the first time the engine uses it and kept.
    fn socket_for(&mut self, source: SocketAddr) -> Option<&UdpSocket> {
        if !self.sockets.contains_key(&source) {
            let (first, last) = self.config.lync().media_ports;
            let media = (first..=last).contains(&source.port())
                && self
                    .config
                    .listeners()
                    .iter()
                    .any(|l| l.address.ip() == source.ip());
            if !media {
                tracing::error!(%source, "engine asked to send from an address that is neither a listener nor a media port");
                return None;
            }
            let socket = match UdpSocket::bind(source) {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::warn!(%source, error = %e, "cannot bind a media port for TURN");
                    return None;
                }
            };
            let stop = Arc::new(AtomicBool::new(false));
            if let Some(tx) = &self.loop_tx
                && let Err(e) = spawn_reader(source, &socket, tx.clone(), Some(stop.clone()))
            {
                tracing::warn!(%source, error = %format!("{e:#}"), "cannot read a media port");
                return None;
            }
            self.media.insert(source, stop);
            tracing::debug!(%source, "media port bound for TURN");
            self.sockets.insert(source, socket);
        }
        self.sockets.get(&source)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Runs until SIGINT/SIGTERM, then ends live calls and returns.
    pub(crate) fn run(&mut self, rx: &Receiver<Message>) -> anyhow::Result<()> {
        let mut shutdown_at: Option<std::time::Instant> = None;
        loop {
            let deadline = self.drain_outputs();
            if let Some(started) = shutdown_at
                && (self.live.is_empty() || started.elapsed() > SHUTDOWN_GRACE)
            {
                tracing::info!(live_calls = self.live.len(), "shut down");
                return Ok(());
            }
            let now = self.now();
            let wait =
                Duration::from_nanos(deadline.saturating_sub(now)).min(Duration::from_millis(250));
            match rx.recv_timeout(wait) {
                Ok(Message::Datagram {
                    listener,
                    source,
                    contents,
                }) => {
                    self.metrics.datagrams_in += 1;
                    let datagram = Datagram {
                        source: source.to_string(),
                        destination: listener.to_string(),
                        contents,
                    };
                    let now = self.now();
                    let result = self.guest.handle_receive(now, &datagram);
                    self.check(result);
                }
                Ok(Message::Admin(request)) => self.admin(request),
                Ok(Message::Shutdown) => {
                    if shutdown_at.is_none() {
                        tracing::info!(
                            live_calls = self.live.len(),
                            "shutting down: no new calls, ending live ones"
                        );
                        shutdown_at = Some(std::time::Instant::now());
                        let now = self.now();
                        let result = self.guest.drain(now);
                        self.check(result);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = self.now();
                    if now >= deadline {
                        let result = self.guest.handle_timeout(now);
                        self.check(result);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// Sends every transmit and records every event; returns the engine's next deadline.
    fn drain_outputs(&mut self) -> u64 {
        loop {
            let outputs = match self.guest.poll_outputs(OUTPUT_BATCH) {
                Ok(outputs) => outputs,
                Err(trap) => {
                    self.replace_guest(trap);
                    continue;
                }
            };
            for output in outputs {
                match output {
                    Output::Transmit(datagram) => self.transmit(datagram),
                    Output::Event(json) => self.record(&json),
                    Output::Timeout(at) => return at,
                }
            }
        }
    }

    fn transmit(&mut self, datagram: Datagram) {
        let (Ok(source), Ok(destination)) = (
            datagram.source.parse::<SocketAddr>(),
            datagram.destination.parse::<SocketAddr>(),
        ) else {
            tracing::error!(source = %datagram.source, destination = %datagram.destination, "engine asked to send between unreadable addresses");
            return;
        };
        let Some(socket) = self.socket_for(source) else {
            return;
        };
        match socket.send_to(&datagram.contents, destination) {
            Ok(_) => self.metrics.datagrams_out += 1,
            Err(e) => tracing::warn!(%destination, error = %e, "send failed"),
        }
    }

    fn record(&mut self, json: &str) {
        let event: Event = match serde_json::from_str(json) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(error = %e, "unreadable event from the engine");
                return;
            }
        };
        match event {
            Event::CallStarted(call) => {
                tracing::info!(tag = %call.tag, route = %call.route, "call started");
                self.live.insert(call.tag.clone(), *call);
            }
            Event::LegState { tag, side, state } => {
                if let Some(call) = self.live.get_mut(&tag) {
                    call.legs[side as usize].state = state;
                }
            }
            Event::CallEnded(record) => {
                tracing::info!(tag = %record.tag, status = record.final_status, outcome = ?record.outcome, reason = %record.reason, "call ended");
                self.live.remove(&record.tag);
                self.metrics.count_ended(record.final_status);
                self.history.append(*record);
            }
            Event::Refused {
                source,
                method,
                status,
                reason,
                malformed,
            } => {
                if malformed {
                    self.metrics.parse_errors += 1;
                }
                tracing::debug!(%source, %method, status, %reason, "refused");
            }
            Event::Dropped { source, reason } => {
                if matches!(reason, twoleg_core::DropReason::Malformed(_)) {
                    self.metrics.parse_errors += 1;
                }
                tracing::debug!(%source, ?reason, "dropped");
            }
            Event::Retransmitted { .. } => self.metrics.retransmissions += 1,
            Event::TurnUpdated { tag, turn } => {
                tracing::info!(%tag, turn = %serde_json::to_string(&turn).unwrap_or_default(), "TURN");
                if let Some(call) = self.live.get_mut(&tag) {
                    call.turn = turn;
                }
            }
            Event::MediaPortsFreed { rtp } => {
                let rtcp = SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1));
                for port in [rtp, rtcp] {
                    if let Some(stop) = self.media.remove(&port) {
                        stop.store(true, Ordering::Relaxed);
                        self.sockets.remove(&port);
                    }
                }
            }
            Event::TurnHealth {
                endpoint,
                address,
                health,
            } => {
                tracing::warn!(%address, ?health, "TURN server health changed");
                if let Some(view) = self.turn_servers.get_mut(endpoint) {
                    view.health = health;
                }
            }
            _ => {}
        }
    }

    /// Logs an engine error (a host mistake such as time going backwards) or replaces a
    /// trapped instance.
    fn check(&mut self, result: Result<Result<(), String>, Trap>) {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the engine refused an input"),
            Err(trap) => self.replace_guest(trap),
        }
    }

    /// The engine instance trapped: close its calls in history as `engine fault`, start a fresh
    /// instance, keep serving.
    fn replace_guest(&mut self, trap: Trap) {
        self.metrics.guest_traps += 1;
        tracing::error!(cause = %trap.0, live_calls = self.live.len(), "the engine instance trapped; starting a fresh one");
        let now = self.now();
        for (_, call) in std::mem::take(&mut self.live) {
            let mut legs = call.legs.clone();
            for leg in &mut legs {
                leg.state = LegState::Terminated;
            }
            self.history.append(CallRecord {
                tag: call.tag,
                route: call.route,
                started_at: call.started_at,
                answered_at: call.answered_at,
                ended_at: twoleg_core::Instant::from_nanos(now),
                final_status: 500,
                outcome: Outcome::Failed,
                ended_by: EndedBy::B2bua,
                reason: "engine fault".to_owned(),
                turn: call.turn,
                legs,
            });
            self.metrics.count_ended(500);
        }
        for view in &mut self.turn_servers {
            view.health = Health::Up;
        }
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        match self.host.instantiate(&self.config_json, now, self.seed) {
            Ok(guest) => self.guest = guest,
            Err(e) => {
                // The same component and config instantiated at start: this cannot fail short of
                // the host running out of memory, where stopping is all that is left.
                tracing::error!(error = %format!("{e:#}"), "cannot start a fresh engine instance");
                std::process::exit(1);
            }
        }
    }

    fn admin(&mut self, request: AdminRequest) {
        match request {
            AdminRequest::Calls(reply) => {
                let calls = self.guest.calls().unwrap_or_else(|trap| {
                    self.replace_guest(trap);
                    "[]".to_owned()
                });
                let _ = reply.send(calls);
            }
            AdminRequest::History(reply) => {
                let records: Vec<&CallRecord> = self.history.newest_first().collect();
                let _ = reply.send(serde_json::to_string(&records).unwrap_or_default());
            }
            AdminRequest::Disconnect(tag, reply) => {
                let now = self.now();
                let result = match self.guest.disconnect(now, &tag) {
                    Ok(result) => result,
                    Err(trap) => {
                        self.replace_guest(trap);
                        Err("the engine failed; the call was closed as an engine fault".to_owned())
                    }
                };
                let _ = reply.send(result);
            }
            AdminRequest::Metrics(reply) => {
                let counters = self.counters();
                let up: Vec<(SocketAddr, bool)> = self
                    .turn_servers
                    .iter()
                    .map(|v| (v.address, v.health == Health::Up))
                    .collect();
                let _ = reply.send(self.metrics.render(self.live.len(), &counters, &up));
            }
            AdminRequest::Turn(reply) => {
                let counters = self.counters();
                let body = serde_json::json!({
                    "servers": self.turn_servers,
                    "allocations_open": counters.turn_allocations_open,
                    "allocations_granted": counters.turn_allocations,
                    "failures": counters.turn_failures,
                    "probes_sent": counters.turn_probes_sent,
                    "probes_answered": counters.turn_probes_answered,
                });
                let _ = reply.send(body.to_string());
            }
            AdminRequest::InjectFault(reply) => {
                if self.fault_injection
                    && let Err(trap) = self.guest.inject_fault("requested over the admin API")
                {
                    self.replace_guest(trap);
                }
                let _ = reply.send(());
            }
        }
    }

    /// The engine's counters (zero if the instance traps while asked).
    fn counters(&mut self) -> Counters {
        match self.guest.counters() {
            Ok(json) => serde_json::from_str(&json).unwrap_or_default(),
            Err(trap) => {
                self.replace_guest(trap);
                Counters::default()
            }
        }
    }

    /// The config as loaded.
    pub(crate) fn config(&self) -> &ValidConfig {
        &self.config
    }
}

/// Reads datagrams from one socket into the I/O loop until the loop is gone, or until `stop` is
/// set (a media port the engine freed: the reader wakes twice a second to look).
fn spawn_reader(
    local: SocketAddr,
    socket: &UdpSocket,
    tx: Sender<Message>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let socket = socket.try_clone().context("cloning a UDP socket")?;
    if stop.is_some() {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .context("setting a media socket's read timeout")?;
    }
    std::thread::Builder::new()
        .name(format!("udp {local}"))
        .spawn(move || {
            let mut buffer = vec![0; 65_535];
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return;
                }
                match socket.recv_from(&mut buffer) {
                    Ok((n, source)) => {
                        let message = Message::Datagram {
                            listener: local,
                            source,
                            contents: buffer[..n].to_vec(),
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => tracing::debug!(%local, error = %e, "receive error"),
                }
            }
        })
        .context("starting a UDP reader")?;
    Ok(())
}
