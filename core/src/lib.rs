//! # TwoLeg core
//!
//! The sans-IO engine of TwoLeg, a SIP back-to-back user agent (B2BUA) with TURN server
//! selection, modelled on the B2BUA of Cisco Expressway. The same crate runs in the browser
//! simulator (`wasm32-unknown-unknown`), inside the native runner as a WebAssembly component
//! (`wasm32-wasip2`) and natively in tests and benchmarks.
//!
//! The core never touches a socket, a clock or an OS random source: time comes in as values,
//! randomness from one seeded RNG, so the same seed and inputs give the same outputs on every
//! host.
//!
//! - [`config`]: the config file model, its validation and its JSON Schema.
//! - [`turn`]: the B2BUA TURN server table and the random load-balancing selector.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod sip;
pub mod turn;
