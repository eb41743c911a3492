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
//!         Ok((n, source)) => Input::Receive(now(), Receive { source, destination: local, contents: &buf[..n] }),
//!         Err(_) => Input::Timeout(now()),
//!     };
//!     b2bua.handle_input(input).unwrap();
//! }
//! ```
//!
//! ## Panics and errors
//!
//! Nothing from the network makes the engine panic: a malformed datagram is answered per RFC
//! 3261 (400, 505, ...) or dropped with an [`Event::Dropped`] saying why. [`Error`] is only for
//! host mistakes, such as time going backwards.
//!
//! ## Modules
//!
//! - [`config`]: the config file model, its validation and its JSON Schema.
//! - [`sip`]: the SIP codec.
//! - [`turn`]: the B2BUA TURN server table and the random load-balancing selector.
//! - [`status`]: call status and call history records.
//! - [`sim`]: a deterministic simulated network with scripted callers and callees.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
mod dialog;
mod engine;
mod event;
mod ids;
mod scheduler;
pub mod sim;
pub mod sip;
pub mod status;
mod time;
mod transaction;
pub mod turn;

use std::net::SocketAddr;

pub use engine::{B2bua, Counters, Error};
pub use event::{DropReason, Event};
pub use time::Instant;
pub use transaction::{Timer, TxState};

/// What the host hands to the engine.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram arrived.
    Receive(Instant, Receive<'a>),
    /// Time passed (at least up to the last [`Output::Timeout`]).
    Timeout(Instant),
}

/// A datagram that arrived.
#[derive(Debug)]
pub struct Receive<'a> {
    /// Who sent it.
    pub source: SocketAddr,
    /// The listener it arrived on.
    pub destination: SocketAddr,
    /// Its bytes.
    pub contents: &'a [u8],
}

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

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The listener to send from.
    pub source: SocketAddr,
    /// Where to.
    pub destination: SocketAddr,
    /// Its bytes.
    pub contents: Vec<u8>,
}
