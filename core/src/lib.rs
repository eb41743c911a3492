//! # TwoLeg core
//!
//! The sans-IO engine of TwoLeg, a SIP back-to-back user agent (B2BUA) with TURN server
//! selection, modelled on the B2BUA of Cisco Expressway. The same crate runs in the browser
//! simulator (`wasm32-unknown-unknown`), inside the native runner as a WebAssembly component
//! (`wasm32-wasip2`) and natively in tests and benchmarks.
//!
//! A B2BUA splits each call into two legs: leg A toward the caller, where TwoLeg is the UAS, and
//! leg B toward the callee, where it is the UAC. Each leg has its own Call-ID, tags, CSeq space,
//! Via and Contact; both show in call status and call history under one call tag.
//!
//! ## Sans-IO
//!
//! The core never touches a socket, a clock or an OS random source. Time comes in with every
//! [`Input`]; every branch, tag, Call-ID and TURN choice comes from one RNG seeded in
//! [`B2bua::new`]. The same seed and the same inputs give byte-identical outputs on every host.
//!
//! ## Run loop
//!
//! **The single-mutation invariant.** Every call of [`B2bua::handle_input`] (or
//! [`B2bua::disconnect`]) must be followed by calls of [`B2bua::poll_output`] until it returns
//! [`Output::Timeout`]. That timeout is when to hand in [`Input::Timeout`] at the latest.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use twoleg_core::{B2bua, Input, Instant, Output, Receive};
//! use twoleg_core::config::ValidConfig;
//!
//! let config = ValidConfig::default_config();
//! let local = config.listeners()[0].address;
//! let socket = UdpSocket::bind(local).unwrap();
//! let start = std::time::Instant::now();
//! let now = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
//! let mut b2bua = B2bua::new(config, now(), 42);
//! let mut buf = vec![0; 65_535];
//! loop {
//!     // 1. Drain outputs: send transmits, record events, learn the next deadline.
//!     let deadline = loop {
//!         match b2bua.poll_output() {
//!             // With TURN servers configured, `t.source` may also be a media port the engine
//!             // announced with `Event::MediaPortsOpened`; this example has none.
//!             Output::Transmit(t) => { socket.send_to(&t.contents, t.destination).unwrap(); }
//!             Output::Event(event) => println!("{event:?}"),
//!             Output::Timeout(at) => break at,
//!         }
//!     };
//!     // 2. Wait for a datagram until the deadline.
//!     let wait = deadline.saturating_since(now()).max(std::time::Duration::from_millis(1));
//!     socket.set_read_timeout(Some(wait)).unwrap();
//!     // 3. Hand in what happened.
//!     let input = match socket.recv_from(&mut buf) {
//!         Ok((n, source)) => Input::Receive(now(), Receive::datagram(source, local, &buf[..n])),
//!         Err(_) => Input::Timeout(now()),
//!     };
//!     b2bua.handle_input(input).unwrap();
//! }
//! ```
//!
//! ## What the host owes the engine
//!
//! - Every [`Transmit`] goes out from its `source`: a listener, or a media port announced by
//!   [`Event::MediaPortsOpened`] (bind it then, close it at [`Event::MediaPortsFreed`]).
//! - What arrives on a listener or an open media port comes in as [`Input::Receive`], with the
//!   address it arrived on as `destination`; anything else is dropped
//!   ([`DropReason::UnknownListener`]).
//! - [`Event::CallEnded`] carries the call's record: persist it if history must outlive the
//!   process.
//! - [`Event::Resolve`] asks for one DNS lookup (a route's destination is a host name): hand
//!   the answer in with [`Input::Resolved`], empty when there are no records or the lookup
//!   failed. Unanswered for 5 s, it counts as failed.
//! - A transmit that could not go (a refused connect, an ICMP unreachable) is worth an
//!   [`Input::Undeliverable`]: the engine fails over or answers at once instead of waiting for
//!   Timer B.
//!
//! ## Panics and errors
//!
//! Nothing from the network makes the engine panic: a malformed datagram is answered per RFC
//! 3261 (400, 505, ...) or dropped with an [`Event::Dropped`] saying why. [`Error`] is only for
//! host mistakes, such as time going backwards. A broken internal invariant is a bug and
//! panics (with the invariant in its message), as in str0m: the runner replaces a panicked
//! engine with a fresh instance and records its live calls as `engine fault`.
//!
//! ## Determinism
//!
//! Randomness comes from ChaCha8 (`rand_chacha`), a named algorithm whose output does not
//! change between releases, seeded in [`B2bua::new`]; `tests/data/golden` pins a transcript so
//! any change to what the engine sends for a given seed shows up in review.
//!
//! ## Modules
//!
//! - [`config`]: the config file model, its validation and its JSON Schema.
//! - [`sip`]: the SIP codec.
//! - [`turn`]: the B2BUA TURN server table, the random load-balancing selector, the TURN
//!   client and its STUN codec.
//! - [`status`]: call status and call history records.
//! - [`dns`]: RFC 3263 resolution, sans-IO: its queries and answers.
//! - [`ids`]: tags, branches and Call-IDs drawn from a seeded RNG.
//! - [`scheduler`]: the deadline table the engine (and the simulator's agents) keep.
//!
//! The simulator (scripted callers and callees on a lossy virtual network) is the
//! `twoleg-sim` crate.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod config;
mod dialog;
pub mod dns;
mod engine;
mod event;
mod hop;
pub mod ids;
pub mod media;
/// SRTP and SDES, as the engine uses them (the `twoleg-srtp` crate).
pub use twoleg_srtp as srtp;
pub mod scheduler;
pub mod sip;
pub mod status;
mod time;
mod transaction;
pub mod turn;

use std::net::SocketAddr;

pub use engine::{B2bua, Counters, Error, PendingWork};
pub use event::{DropReason, Event, Refusal};
pub use time::Instant;

/// What the host hands to the engine.
#[derive(Debug)]
pub enum Input<'a> {
    /// Bytes arrived: a datagram, or what one read of a stream connection returned.
    Receive(Instant, Receive<'a>),
    /// Time passed (at least up to the last [`Output::Timeout`]).
    Timeout(Instant),
    /// A stream connection closed (the peer hung up, an error, the host's limits, or the engine
    /// asked with [`Event::CloseConnection`]).
    Closed(Instant, ConnectionId),
    /// The host could not deliver a [`Transmit`]: a connect refused or timed out, a connection
    /// reset. Requests waiting on that hop fail at once (503 toward the caller) instead of
    /// after Timer B or F.
    Undeliverable(Instant, Undeliverable),
    /// The media plane's counters for one leg of an anchored stream (see
    /// [`Event::MediaStream`]), shown in call status and history.
    MediaReport(Instant, media::MediaReport),
    /// The answer to an [`Event::Resolve`] query.
    Resolved(Instant, dns::DnsAnswer),
}

/// Where a [`Transmit`] could not go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Undeliverable {
    /// Over which transport.
    pub transport: Transport,
    /// To where.
    pub destination: SocketAddr,
}

/// Bytes that arrived.
#[derive(Debug)]
pub struct Receive<'a> {
    /// How they came.
    pub transport: Transport,
    /// The stream connection they came on (`None` for UDP).
    pub connection: Option<ConnectionId>,
    /// Who sent them.
    pub source: SocketAddr,
    /// The listener (or media port) they arrived on.
    pub destination: SocketAddr,
    /// The bytes: one datagram, or what one read of a stream returned.
    pub contents: &'a [u8],
}

impl<'a> Receive<'a> {
    /// A UDP datagram.
    pub fn datagram(source: SocketAddr, destination: SocketAddr, contents: &'a [u8]) -> Self {
        Self {
            transport: Transport::Udp,
            connection: None,
            source,
            destination,
            contents,
        }
    }
}

/// A SIP transport (RFC 3261 §18).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Datagrams.
    #[default]
    Udp,
    /// A TCP byte stream.
    Tcp,
    /// A TLS byte stream.
    Tls,
}

impl Transport {
    /// Whether it delivers reliably and in order (TCP, TLS): no retransmissions, Timers D, I,
    /// J and K zero (RFC 3261 §17), messages framed by Content-Length (§18.3).
    pub fn is_reliable(self) -> bool {
        self != Self::Udp
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        })
    }
}

/// A stream connection, named by the host.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ConnectionId(pub u64);

/// What the engine hands to the host.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Something to show, count or persist.
    Event(Event),
    /// Nothing more now; hand in [`Input::Timeout`] at this time at the latest
    /// ([`Instant::NEVER`] when nothing is scheduled).
    Timeout(Instant),
}

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// How.
    pub transport: Transport,
    /// The stream connection to write to (`None` for UDP).
    pub connection: Option<ConnectionId>,
    /// The listener (or media port) to send from.
    pub source: SocketAddr,
    /// Where to.
    pub destination: SocketAddr,
    /// Over TLS: the name the peer's certificate must carry when this opens the connection
    /// (RFC 5922: the route's `tls_server_name`, else the host name the destination was
    /// resolved from); `None`: the destination's address.
    pub server_name: Option<String>,
    /// Its bytes.
    pub contents: Vec<u8>,
}
