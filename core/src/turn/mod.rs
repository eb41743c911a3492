//! TURN: the B2BUA TURN server table, the per-call selector, and a sans-IO TURN client for the
//! relay allocations (its STUN codec in `stun.rs`), and the engine's set of allocations.
//!
//! **Why TwoLeg writes its own STUN codec.** It needs four methods and a dozen attributes, with
//! transaction ids from the engine's seeded RNG and RustCrypto for MD5, SHA-1, HMAC and CRC-32
//! (no home-made crypto), building for both wasm targets with no OS randomness. Of the crates,
//! ezk's `stun-types` draws transaction ids from `rand`'s default features (the OS, and a JS
//! backend on `wasm32-unknown-unknown`), `stun-coder` uses `thread_rng`; `stun_codec` would
//! fit (ids are the caller's) but brings its `bytecodec`/`trackable` style for 4 methods. str0m
//! writes its own too.
//!
//! Expressway's rule, which TwoLeg follows: "The B2BUA chooses which TURN server to offer via
//! random load-balancing between all of the available servers." Every address/port combination
//! of every configured server is one choice (a large deployment listing six ports is six
//! choices), drawn uniformly from the engine's seeded RNG.
//!
//! **What "available" means.** Expressway documents no health check of B2BUA TURN servers, so a
//! configured combination is available unless TwoLeg's optional health probing has marked it
//! [`Health::Down`]; with probing off (the default, as Expressway), every configured
//! combination is available.

mod allocations;
mod candidates;
mod client;
mod health;
mod selector;
pub mod stun;
mod table;

pub(crate) use allocations::{AllocId, Allocations, Arrival};
pub(crate) use candidates::{Candidates, add_to_sdp, peer_addresses};
pub use client::{AllocationState, TurnAllocation, TurnFailure};
pub(crate) use health::{HealthProbes, ProbeAnswer};
pub use selector::{NoTurnOffer, select};
pub use stun::describe;
pub use stun::looks_like_stun;
pub use table::{EndpointId, Health, TurnEndpoint, TurnServerTable};
