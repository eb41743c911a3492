//! The runner's I/O loop: the canonical sans-IO shape. Drain the engine's outputs (send
//! datagrams, record events), wait for a datagram, an admin request or the next deadline, hand
//! it in, repeat. All protocol logic is in the engine; this module only moves bytes and records:
//! the loop here, the admin requests in `admin.rs`, the sockets in `sockets.rs`.

mod admin;
mod dns;
mod shedding;
mod sockets;
mod unreachable;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use anyhow::Context;
use twoleg_core::config::ValidConfig;
use twoleg_core::status::LiveCalls;
use twoleg_core::turn::Health;
use twoleg_core::{
    Counters, DropReason, Event, Input, Instant, Output, Receive, Refusal, Transport, Undeliverable,
};
use twoleg_sim::Engine as _;

use crate::history::HistoryStore;
use crate::host::{Guest, GuestError, Host, Trap};
use crate::media::MediaPlane;
use crate::metrics::Metrics;
use crate::refusals::Refusals;
use crate::streams::{Arrived, StreamEvent, Streams};

/// How long a graceful shutdown waits for live calls to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An idle engine instance whose memory has grown past this is replaced by a fresh one, which
/// gives the memory back (a wasm memory never shrinks).
const RECYCLE_ABOVE: usize = 16 << 20;

/// Under load, due deadlines are handed in at most this often (at most this late).
const TIMEOUT_BATCH: Duration = Duration::from_millis(1);

/// How often an idle runner looks at whether to recycle its engine instance.
const RECYCLE_CHECK: Duration = Duration::from_secs(2);

pub(crate) use self::admin::AdminRequest;
use self::sockets::{MediaPort, rtcp_of, spawn_reader};

/// Datagrams (and admin requests) waiting for the loop, at most: when the engine falls behind,
/// the reader threads wait and the sockets' own buffers take the excess, so a runner that
/// cannot keep up holds bounded memory instead of an ever longer queue.
pub(crate) const INPUT_QUEUE: usize = 8_192;

/// What wakes the loop.
pub(crate) enum Message {
    /// A datagram arrived on a listener or a media port.
    Datagram {
        local: SocketAddr,
        source: SocketAddr,
        contents: Vec<u8>,
    },
    /// A request from the admin API.
    Admin(AdminRequest),
    /// Something happened on a TCP or TLS connection.
    Stream(StreamEvent),
    /// The media plane's counters for one leg of an anchored media line.
    MediaReport(twoleg_core::media::MediaReport),
    /// An ICMP error said a datagram sent from a listener was not taken (port or host
    /// unreachable).
    Unreachable(unreachable::IcmpError),
    /// The answer to a DNS query of the engine.
    Resolved(twoleg_core::dns::DnsAnswer),
    /// SIGINT or SIGTERM.
    Shutdown,
}

/// The running B2BUA.
pub(crate) struct Node {
    host: Host,
    guest: Guest,
    /// TCP and TLS connections.
    streams: Streams,
    /// The resolver for the engine's DNS queries (none when the system has no DNS set up).
    dns: Option<dns::Dns>,
    config: ValidConfig,
    seed: u64,
    sockets: BTreeMap<SocketAddr, UdpSocket>,
    /// Where reader threads feed datagrams (media sockets are bound when the engine opens them).
    loop_tx: Option<SyncSender<Message>>,
    /// Media sockets the loop reads (the Lync leg's TURN port pairs), with what stops their
    /// reader once the engine freed the port and where it hands media.
    media: BTreeMap<SocketAddr, MediaPort>,
    /// Relays the anchored media of calls.
    media_plane: MediaPlane,
    epoch: std::time::Instant,
    history: HistoryStore,
    /// The newest requests refused before any call existed (`GET /api/refusals`).
    refusals: Refusals,
    /// Live calls as the engine's events describe them, to close them in history if the
    /// engine instance fails.
    live: LiveCalls,
    metrics: Metrics,
    /// The counters of engine instances replaced while healthy (recycled), so the totals run on.
    retired: Counters,
    fault_injection: bool,
    last_recycle_check: std::time::Instant,
    /// The input queue's depth and the new INVITEs shed at the door.
    queue: Arc<shedding::InputQueue>,
    /// The requests sent (up to their branch), to tell real ICMP errors from forged ones.
    sent: unreachable::SentDatagrams,
}

impl Node {
    pub(crate) fn new(
        config: ValidConfig,
        config_dir: &Path,
        history: HistoryStore,
        seed: u64,
        fault_injection: bool,
        shed_at: Option<usize>,
    ) -> anyhow::Result<Self> {
        let host = Host::new()?;
        let epoch = std::time::Instant::now();
        let guest = host.instantiate(&config, 0, seed)?;
        let mut sockets = BTreeMap::new();
        for listener in config.listeners() {
            if listener.transport != Transport::Udp {
                continue;
            }
            let socket = UdpSocket::bind(listener.address)
                .with_context(|| format!("binding SIP listener udp:{}", listener.address))?;
            tracing::info!(listener = %listener.address, name = %listener.name, "listening for SIP over UDP");
            sockets.insert(listener.address, socket);
        }
        let streams = Streams::bind(&config, config_dir)?;
        let dns = match dns::Dns::new(config.dns_servers()) {
            Ok(dns) => Some(dns),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no DNS: destinations given as host names will not resolve");
                None
            }
        };
        Ok(Self {
            host,
            guest,
            streams,
            dns,
            config,
            seed,
            sockets,
            loop_tx: None,
            media: BTreeMap::new(),
            media_plane: MediaPlane::new()?,
            epoch,
            history,
            refusals: Refusals::default(),
            live: LiveCalls::default(),
            metrics: Metrics::default(),
            retired: Counters::default(),
            fault_injection,
            queue: Arc::new(shedding::InputQueue::new(
                shed_at.unwrap_or(shedding::SHED_AT),
            )),
            last_recycle_check: epoch,
            sent: unreachable::SentDatagrams::new(),
        })
    }

    /// Starts one reader thread per listener, feeding `tx` (and later one per media socket).
    pub(crate) fn spawn_readers(&mut self, tx: &SyncSender<Message>) -> anyhow::Result<()> {
        self.loop_tx = Some(tx.clone());
        self.streams.start(tx);
        self.media_plane.start(tx);
        for (&listener, socket) in &self.sockets {
            spawn_reader(listener, socket, tx.clone(), None, Arc::clone(&self.queue))?;
        }
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// Runs until SIGINT/SIGTERM, then ends live calls and returns.
    pub(crate) fn run(&mut self, rx: &Receiver<Message>) -> anyhow::Result<()> {
        let mut shutdown_at: Option<std::time::Instant> = None;
        let mut last_timeout = std::time::Instant::now();
        loop {
            let deadline = self.drain_outputs();
            if let Some(started) = shutdown_at
                && (self.live.is_empty() || started.elapsed() > SHUTDOWN_GRACE)
            {
                tracing::info!(live_calls = self.live.len(), "shut down");
                return Ok(());
            }
            // Deadlines are handed in even while datagrams keep arriving (waiting for a quiet
            // moment would starve every timer under load, and the memory of lingering
            // transactions with them), but at most once per TIMEOUT_BATCH: under load some
            // deadline is due at almost every datagram, and a call into the engine per datagram
            // for it would double the work.
            let now = self.now();
            let since_timeout = last_timeout.elapsed();
            if now >= deadline && since_timeout >= TIMEOUT_BATCH {
                last_timeout = std::time::Instant::now();
                let result = self.guest.handle_input(Input::Timeout(now));
                self.check(result);
                continue;
            }
            let wait = if now >= deadline {
                TIMEOUT_BATCH.saturating_sub(since_timeout)
            } else {
                deadline
                    .saturating_since(now)
                    .min(Duration::from_millis(250))
            };
            match rx.recv_timeout(wait) {
                Ok(Message::Datagram {
                    local,
                    source,
                    contents,
                }) => {
                    self.queue.taken();
                    self.metrics.datagrams_in += 1;
                    let now = self.now();
                    let input = Input::Receive(now, Receive::datagram(source, local, &contents));
                    let result = self.guest.handle_input(input);
                    self.check(result);
                }
                Ok(Message::Admin(request)) => self.admin(request),
                Ok(Message::Resolved(answer)) => {
                    let input = Input::Resolved(self.now(), answer);
                    let result = self.guest.handle_input(input);
                    self.check(result);
                }
                Ok(Message::Unreachable(error)) if !self.sent.vouches_for(&error) => {
                    self.metrics.icmp_errors_ignored += 1;
                    tracing::debug!(destination = %error.destination, quoted = error.quoted.len(), "ICMP error ignored: it quotes no request sent there, to its branch");
                }
                Ok(Message::Unreachable(error)) => {
                    let input = Input::Undeliverable(
                        self.now(),
                        Undeliverable {
                            transport: Transport::Udp,
                            destination: error.destination,
                        },
                    );
                    let result = self.guest.handle_input(input);
                    self.check(result);
                }
                Ok(Message::MediaReport(report)) => {
                    let input = Input::MediaReport(self.now(), report);
                    let result = self.guest.handle_input(input);
                    self.check(result);
                }
                Ok(Message::Stream(event)) => {
                    let now = self.now();
                    let result = match self.streams.on_event(event) {
                        Some(Arrived::Bytes {
                            transport,
                            connection,
                            source,
                            local,
                            bytes,
                        }) => {
                            self.metrics.datagrams_in += 1;
                            let receive = Receive {
                                transport,
                                connection: Some(connection),
                                source,
                                destination: local,
                                contents: &bytes,
                            };
                            self.guest.handle_input(Input::Receive(now, receive))
                        }
                        Some(Arrived::Closed(connection)) => {
                            self.guest.handle_input(Input::Closed(now, connection))
                        }
                        Some(Arrived::Unreachable {
                            transport,
                            destination,
                        }) => self.guest.handle_input(Input::Undeliverable(
                            now,
                            Undeliverable {
                                transport,
                                destination,
                            },
                        )),
                        None => Ok(()),
                    };
                    self.check(result);
                }
                Ok(Message::Shutdown) => {
                    if shutdown_at.is_none() {
                        tracing::info!(
                            live_calls = self.live.len(),
                            "shutting down: no new calls, ending live ones"
                        );
                        shutdown_at = Some(std::time::Instant::now());
                        let now = self.now();
                        let result = self.guest.shut_down(now.as_nanos());
                        self.check(result);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.now() < deadline && shutdown_at.is_none() {
                        self.recycle_if_idle();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// Sends every transmit and records every event; returns the engine's next deadline.
    fn drain_outputs(&mut self) -> Instant {
        loop {
            match self.guest.poll_output() {
                Ok(Output::Transmit(transmit)) if transmit.transport != Transport::Udp => {
                    self.metrics.datagrams_out += 1;
                    self.streams.send(transmit);
                }
                Ok(Output::Transmit(transmit)) => {
                    let Some(socket) = self.sockets.get(&transmit.source) else {
                        tracing::error!(source = %transmit.source, "the engine sent from a port it has not opened");
                        continue;
                    };
                    let mut sent = socket.send_to(&transmit.contents, transmit.destination);
                    if let Err(e) = &sent
                        && unreachable::is_icmp_error(e)
                    {
                        // An ICMP error pending on the socket surfaced on this send (not on
                        // the reader's receive): its queued destinations go to the engine,
                        // and this datagram goes again.
                        for error in unreachable::drain(socket) {
                            if let Some(tx) = &self.loop_tx {
                                let _ = tx.try_send(Message::Unreachable(error));
                            }
                        }
                        sent = socket.send_to(&transmit.contents, transmit.destination);
                    }
                    match sent {
                        Ok(_) => {
                            self.metrics.datagrams_out += 1;
                            self.sent.note(transmit.destination, &transmit.contents);
                        }
                        Err(e) => {
                            tracing::warn!(destination = %transmit.destination, error = %e, "send failed")
                        }
                    }
                }
                Ok(Output::Event(event)) => self.record(event),
                Ok(Output::Timeout(at)) => return at,
                Err(GuestError::Trap(trap)) => self.replace_guest(trap),
                Err(GuestError::Engine(error)) => {
                    unreachable!("polling outputs never fails in the engine: {error}")
                }
            }
        }
    }

    fn record(&mut self, event: Event) {
        self.live.apply(self.now(), &event);
        self.refusals.note(&event);
        match event {
            Event::CallStarted(call) => {
                tracing::debug!(tag = %call.tag, route = %call.route, "call started");
            }
            Event::CallEnded(record) => {
                tracing::debug!(tag = %record.tag, status = record.final_status, outcome = ?record.outcome, reason = %record.reason, "call ended");
                self.metrics.count_ended(record.final_status);
                self.history.append(*record);
            }
            Event::Refused {
                source,
                method,
                status,
                reason,
            } => {
                if reason.is_malformed() {
                    self.metrics.parse_errors += 1;
                }
                let access = match reason {
                    Refusal::Forbidden => Some("forbidden"),
                    Refusal::Unauthenticated(_) => Some("unauthenticated"),
                    Refusal::Flooding => Some("flooding"),
                    _ => None,
                };
                if let Some(access) = access {
                    self.metrics.count_access_refused(access);
                    // A flood is counted, not logged request by request.
                    if matches!(reason, Refusal::Flooding) {
                        tracing::debug!(%source, %method, %status, %reason, "refused by access control");
                    } else {
                        tracing::info!(%source, %method, %status, %reason, "refused by access control");
                    }
                } else {
                    tracing::debug!(%source, %method, %status, %reason, "refused");
                }
            }
            Event::Dropped { source, reason } => {
                if matches!(reason, DropReason::Malformed(_)) {
                    self.metrics.parse_errors += 1;
                }
                match reason {
                    DropReason::Flooding => self.metrics.count_access_refused("flooding"),
                    DropReason::ZoneDropsCalls => self.metrics.count_access_refused("zone_drop"),
                    _ => {}
                }
                tracing::debug!(%source, %reason, "dropped");
            }
            Event::Retransmitted { .. } => self.metrics.retransmissions += 1,
            Event::TurnUpdated { tag, turn } => {
                tracing::info!(%tag, turn = %serde_json::to_string(&turn).unwrap_or_default(), "TURN");
            }
            Event::MediaPortsOpened { rtp } => {
                for port in [rtp, rtcp_of(rtp)] {
                    self.open_media_port(port);
                }
            }
            Event::MediaPortsFreed { rtp } => {
                for port in [rtp, rtcp_of(rtp)] {
                    // Dropping the entry stops its reader.
                    if self.media.remove(&port).is_some() {
                        self.sockets.remove(&port);
                    }
                }
            }
            Event::CloseConnection { connection, reason } => {
                self.metrics.framing_errors += 1;
                tracing::debug!(connection = connection.0, %reason, "closing a connection that cannot be framed");
                self.streams.close(connection);
            }
            Event::TurnHealth {
                address, health, ..
            } => {
                tracing::warn!(%address, ?health, "TURN server health changed");
            }
            Event::DestinationHealth {
                route,
                destination,
                health,
            } => {
                tracing::warn!(%route, %destination, ?health, "route destination health changed");
            }
            Event::Resolve(query) => {
                tracing::debug!(name = %query.name, kind = ?query.kind, "DNS lookup");
                match (&self.dns, &self.loop_tx) {
                    (Some(dns), Some(tx)) => dns.ask(&self.streams.handle(), query, tx.clone()),
                    // Unanswered, the engine counts the query as failed after 5 s.
                    _ => tracing::warn!(name = %query.name, "no DNS to ask"),
                }
            }
            // Anchored media goes to the media plane (logged with suites only, never keys).
            Event::MediaStream(stream) => {
                tracing::debug!(
                    tag = %stream.tag,
                    side = ?stream.side,
                    stream = stream.stream,
                    local = %stream.local_rtp,
                    remote = ?stream.remote_rtp,
                    srtp = ?stream.srtp.as_ref().map(|keys| keys.suite()),
                    "anchored media stream"
                );
                self.open_media_stream(&stream);
            }
            Event::MediaStreamClosed {
                tag,
                side,
                stream,
                local_rtp,
            } => {
                tracing::debug!(%tag, ?side, stream, "anchored media stream closed");
                self.route_media([local_rtp, rtcp_of(local_rtp)], None);
                self.media_plane.close(&tag, side, stream);
            }
            _ => {}
        }
    }

    /// Logs an engine error (a host mistake such as time going backwards) or replaces a
    /// trapped instance.
    fn check(&mut self, result: Result<(), GuestError>) {
        match result {
            Ok(()) => {}
            Err(GuestError::Engine(error)) => {
                tracing::warn!(%error, "the engine refused an input")
            }
            Err(GuestError::Trap(trap)) => self.replace_guest(trap),
        }
    }

    /// The engine instance trapped: close its calls in history as `engine fault`, start a fresh
    /// instance, keep serving.
    fn replace_guest(&mut self, trap: Trap) {
        self.metrics.guest_traps += 1;
        tracing::error!(cause = %trap, live_calls = self.live.len(), "the engine instance trapped; starting a fresh one");
        let now = self.now();
        for record in self.live.fail(now) {
            self.metrics.count_ended(record.final_status);
            self.history.append(record);
        }
        // The fresh instance knows nothing of the media ports the failed one opened.
        self.media_plane.close_all();
        for port in std::mem::take(&mut self.media).into_keys() {
            self.sockets.remove(&port);
        }
        self.start_fresh_instance(now);
    }

    fn start_fresh_instance(&mut self, now: Instant) {
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        match self
            .host
            .instantiate(&self.config, now.as_nanos(), self.seed)
        {
            Ok(guest) => self.guest = guest,
            Err(e) => {
                // The same component and config instantiated at start: this cannot fail short of
                // the host running out of memory, where stopping is all that is left.
                tracing::error!(error = %format!("{e:#}"), "cannot start a fresh engine instance");
                std::process::exit(1);
            }
        }
    }

    /// An idle engine instance whose memory grew (a wasm memory never shrinks) is replaced by a
    /// fresh one, which gives the memory back. Only when nothing would be lost: no call, no
    /// transaction, no allocation, and every TURN combination up (a fresh instance starts with
    /// all of them up).
    fn recycle_if_idle(&mut self) {
        if self.last_recycle_check.elapsed() < RECYCLE_CHECK
            || self.guest.memory_size() <= RECYCLE_ABOVE
        {
            return;
        }
        self.last_recycle_check = std::time::Instant::now();
        let state = (|| -> Result<Option<Counters>, Trap> {
            if !self.guest.is_idle()? {
                return Ok(None);
            }
            // A fresh instance starts with every TURN server and destination up and no source
            // blocked: not while one is down or blocked.
            let all_up = self
                .guest
                .turn_servers()?
                .iter()
                .all(|s| s.health == Health::Up)
                && self
                    .guest
                    .destinations()?
                    .iter()
                    .all(|d| d.health == Health::Up)
                && !self.guest.flood_sources()?.iter().any(|s| s.blocked);
            all_up.then(|| self.guest.counters()).transpose()
        })();
        match state {
            Ok(Some(counters)) => {
                let memory = self.guest.memory_size();
                self.retired = add(self.retired, counters);
                self.start_fresh_instance(self.now());
                tracing::info!(
                    memory_mib = memory >> 20,
                    "idle engine instance replaced by a fresh one to give its memory back"
                );
            }
            Ok(None) => {}
            Err(trap) => self.replace_guest(trap),
        }
    }

    /// The config as loaded.
    pub(crate) fn config(&self) -> &ValidConfig {
        &self.config
    }
}

/// Counters of two instances added up (allocations open are the newer one's).
pub(super) fn add(retired: Counters, current: Counters) -> Counters {
    Counters {
        datagrams_in: retired.datagrams_in + current.datagrams_in,
        datagrams_out: retired.datagrams_out + current.datagrams_out,
        retransmissions: retired.retransmissions + current.retransmissions,
        parse_errors: retired.parse_errors + current.parse_errors,
        calls_started: retired.calls_started + current.calls_started,
        turn_relays_granted: retired.turn_relays_granted + current.turn_relays_granted,
        turn_failures: retired.turn_failures + current.turn_failures,
        turn_allocations_open: current.turn_allocations_open,
        turn_probes_sent: retired.turn_probes_sent + current.turn_probes_sent,
        turn_probes_answered: retired.turn_probes_answered + current.turn_probes_answered,
    }
}
