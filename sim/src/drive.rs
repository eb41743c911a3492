//! One engine in virtual time, driven by hand: hand in datagrams, let time pass (every deadline
//! fired in order, with a bound against livelock), take what it sent and reported.
//!
//! Every place that drives an engine without real sockets uses this one loop: the behaviour
//! tests, the simulator, `twoleg replay` (the engine inside wasmtime), the wasm/native parity
//! test, the golden transcript, the fuzz targets and the benchmarks.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use twoleg_core::media::MediaReport;
use twoleg_core::{
    B2bua, ConnectionId, Event, Input, Instant, Output, Receive, Transmit, Transport, Undeliverable,
};

/// What the driver needs of an engine: the sans-IO pair. The native [`B2bua`] is one; the
/// runner's engine component in wasmtime is another.
pub trait Engine {
    /// Why an input or a poll failed (for the native engine, a host mistake; for a guest, a
    /// trap too).
    type Error: std::fmt::Display;

    /// Hands in a datagram or the passing of time.
    fn handle_input(&mut self, input: Input<'_>) -> Result<(), Self::Error>;

    /// The next output.
    fn poll_output(&mut self) -> Result<Output, Self::Error>;
}

impl Engine for B2bua {
    type Error = twoleg_core::Error;

    fn handle_input(&mut self, input: Input<'_>) -> Result<(), Self::Error> {
        Self::handle_input(self, input)
    }

    fn poll_output(&mut self) -> Result<Output, Self::Error> {
        Ok(Self::poll_output(self))
    }
}

/// Why driving stopped.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriveError<E> {
    /// The engine refused an input or failed.
    #[error("engine: {0}")]
    Engine(E),
    /// Deadlines kept falling due without time moving.
    #[error("livelock: {steps} timeouts at {at} without time moving")]
    Livelock {
        /// When.
        at: Instant,
        /// How many timeouts were handed in at that time.
        steps: u64,
    },
}

/// At most this many timeouts at one instant before the run counts as a livelock (a timer
/// re-armed at `now` for ever).
pub const LIVELOCK_STEPS: u64 = 10_000;

/// An engine, its virtual clock and what it has sent and reported.
#[derive(Debug)]
pub struct Driver<E> {
    engine: E,
    now: Instant,
    deadline: Instant,
    transmits: VecDeque<(Instant, Transmit)>,
    events: Vec<(Instant, Event)>,
    media_ports: BTreeSet<SocketAddr>,
}

impl<E: Engine> Driver<E> {
    /// Drives `engine`, which starts at `now` (drains what it has to say already).
    pub fn new(engine: E, now: Instant) -> Result<Self, DriveError<E::Error>> {
        let mut driver = Self {
            engine,
            now,
            deadline: Instant::NEVER,
            transmits: VecDeque::new(),
            events: Vec::new(),
            media_ports: BTreeSet::new(),
        };
        driver.drain()?;
        Ok(driver)
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The engine's next deadline ([`Instant::NEVER`] when none).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether `address` is a media port the engine has opened (and not freed): what arrives
    /// there goes to the engine.
    pub fn is_media_port(&self, address: SocketAddr) -> bool {
        self.media_ports.contains(&address)
    }

    /// A UDP datagram arrives now.
    pub fn receive(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> Result<(), DriveError<E::Error>> {
        let input = Input::Receive(self.now, Receive::datagram(source, destination, contents));
        self.engine
            .handle_input(input)
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// Bytes arrive now on a stream connection (TCP or TLS).
    pub fn receive_stream(
        &mut self,
        transport: Transport,
        connection: ConnectionId,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> Result<(), DriveError<E::Error>> {
        let receive = Receive {
            transport,
            connection: Some(connection),
            source,
            destination,
            contents,
        };
        self.engine
            .handle_input(Input::Receive(self.now, receive))
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// A stream connection closed now.
    pub fn close(&mut self, connection: ConnectionId) -> Result<(), DriveError<E::Error>> {
        self.engine
            .handle_input(Input::Closed(self.now, connection))
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// Nothing could be delivered to `destination` over `transport` (a connect refused).
    pub fn undeliverable(
        &mut self,
        transport: Transport,
        destination: SocketAddr,
    ) -> Result<(), DriveError<E::Error>> {
        let undeliverable = Undeliverable {
            transport,
            destination,
        };
        self.engine
            .handle_input(Input::Undeliverable(self.now, undeliverable))
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// The media plane's counters for one leg of an anchored stream, now.
    pub fn media_report(&mut self, report: MediaReport) -> Result<(), DriveError<E::Error>> {
        self.engine
            .handle_input(Input::MediaReport(self.now, report))
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// The answer to a DNS query the engine asked for, now.
    pub fn resolved(
        &mut self,
        answer: twoleg_core::dns::DnsAnswer,
    ) -> Result<(), DriveError<E::Error>> {
        self.engine
            .handle_input(Input::Resolved(self.now, answer))
            .map_err(DriveError::Engine)?;
        self.drain()
    }

    /// Lets time pass until `target`, handing in every deadline on the way in order.
    pub fn advance_to(&mut self, target: Instant) -> Result<(), DriveError<E::Error>> {
        let mut steps = 0;
        while self.deadline <= target && self.deadline != Instant::NEVER {
            if self.deadline > self.now {
                self.now = self.deadline;
                steps = 0;
            }
            steps += 1;
            if steps > LIVELOCK_STEPS {
                return Err(DriveError::Livelock {
                    at: self.now,
                    steps,
                });
            }
            self.engine
                .handle_input(Input::Timeout(self.now))
                .map_err(DriveError::Engine)?;
            self.drain()?;
        }
        self.now = self.now.max(target);
        Ok(())
    }

    /// Moves the clock to `target`, handing in every deadline before it (not those at it):
    /// what arrives at `target` then comes in before the timers due at that same instant.
    pub fn advance_until(&mut self, target: Instant) -> Result<(), DriveError<E::Error>> {
        if target > self.now && target > Instant::ZERO {
            self.advance_to(Instant::from_nanos(target.as_nanos() - 1))?;
        }
        self.now = self.now.max(target);
        Ok(())
    }

    /// Lets `by` pass.
    pub fn advance(&mut self, by: std::time::Duration) -> Result<(), DriveError<E::Error>> {
        self.advance_to(self.now + by)
    }

    /// Runs a command of the host (a disconnect, a shutdown) at the current time, then drains
    /// what it caused.
    pub fn command<T>(
        &mut self,
        command: impl FnOnce(&mut E, Instant) -> T,
    ) -> Result<T, DriveError<E::Error>> {
        let result = command(&mut self.engine, self.now);
        self.drain()?;
        Ok(result)
    }

    /// The next transmit not taken yet, with when it was sent.
    pub fn pop_transmit(&mut self) -> Option<(Instant, Transmit)> {
        self.transmits.pop_front()
    }

    /// Every transmit not taken yet, oldest first.
    pub fn take_transmits(&mut self) -> Vec<(Instant, Transmit)> {
        self.transmits.drain(..).collect()
    }

    /// Every event not taken yet, oldest first.
    pub fn take_events(&mut self) -> Vec<(Instant, Event)> {
        std::mem::take(&mut self.events)
    }

    fn drain(&mut self) -> Result<(), DriveError<E::Error>> {
        loop {
            match self.engine.poll_output().map_err(DriveError::Engine)? {
                Output::Transmit(transmit) => self.transmits.push_back((self.now, transmit)),
                Output::Event(event) => {
                    match &event {
                        Event::MediaPortsOpened { rtp } => {
                            self.media_ports.insert(*rtp);
                            self.media_ports.insert(rtcp_of(*rtp));
                        }
                        Event::MediaPortsFreed { rtp } => {
                            self.media_ports.remove(rtp);
                            self.media_ports.remove(&rtcp_of(*rtp));
                        }
                        _ => {}
                    }
                    self.events.push((self.now, event));
                }
                Output::Timeout(at) => {
                    self.deadline = at;
                    return Ok(());
                }
            }
        }
    }
}

fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1))
}

/// One datagram, or bytes read on a connection, of a replay script (`twoleg replay`'s input,
/// one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayIn {
    /// When it arrives, in milliseconds of virtual time.
    pub at_ms: u64,
    /// Over what; UDP when left out.
    #[serde(default)]
    pub transport: Transport,
    /// For TCP and TLS: the connection the bytes were read on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionId>,
    /// Who sends it.
    pub source: SocketAddr,
    /// The listener it arrives on.
    pub destination: SocketAddr,
    /// Its text.
    pub text: String,
}

/// One message the engine sent during a replay (`twoleg replay`'s output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOut {
    /// When, in nanoseconds of virtual time.
    pub at_ns: u64,
    /// Over what.
    #[serde(default)]
    pub transport: Transport,
    /// For TCP and TLS: the connection the engine named, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionId>,
    /// From where.
    pub source: SocketAddr,
    /// To where.
    pub destination: SocketAddr,
    /// Its text (lossy UTF-8).
    pub text: String,
}

/// Drives `engine` from time zero through `inputs` (sorted by time), then until `until`;
/// returns every datagram it sent.
pub fn replay<E: Engine>(
    engine: E,
    inputs: &[ReplayIn],
    until: Instant,
) -> Result<Vec<ReplayOut>, DriveError<E::Error>> {
    let mut driver = Driver::new(engine, Instant::ZERO)?;
    let mut out = Vec::new();
    let mut collect = |driver: &mut Driver<E>| {
        // A replay reports transmits only: events are dropped as they come.
        driver.take_events();
        out.extend(
            driver
                .take_transmits()
                .into_iter()
                .map(|(at, t)| ReplayOut {
                    at_ns: at.as_nanos(),
                    transport: t.transport,
                    connection: t.connection,
                    source: t.source,
                    destination: t.destination,
                    text: String::from_utf8_lossy(&t.contents).into_owned(),
                }),
        );
    };
    for input in inputs {
        driver.advance_to(Instant::from_millis(input.at_ms))?;
        collect(&mut driver);
        match input.connection {
            Some(connection) if input.transport.is_reliable() => driver.receive_stream(
                input.transport,
                connection,
                input.source,
                input.destination,
                input.text.as_bytes(),
            )?,
            _ => driver.receive(input.source, input.destination, input.text.as_bytes())?,
        }
        collect(&mut driver);
    }
    driver.advance_to(until)?;
    collect(&mut driver);
    Ok(out)
}
