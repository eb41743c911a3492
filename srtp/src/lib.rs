//! SRTP and SRTCP for TwoLeg: RFC 3711 with the AES-CM/HMAC-SHA1 suites, RFC 7714 AES-GCM, and
//! SDES `a=crypto` attributes (RFC 4568).
//!
//! The crate does no I/O and draws no randomness: master keys come from the caller (the runner
//! from the OS's CSPRNG, the simulator from its seeded RNG), so it builds unchanged for native
//! code and both wasm targets.
//!
//! # Use
//!
//! One [`Context`] per direction and master key: TwoLeg protects what it sends on a leg with its
//! own key and unprotects what it receives with the key the peer announced.
//!
//! ```
//! use twoleg_srtp::{Context, MasterKey, Suite};
//!
//! let key = MasterKey::new(Suite::AesCm128HmacSha1_80, [7; 30].to_vec(), None).unwrap();
//! let mut sender = Context::new(&key);
//! let mut receiver = Context::new(&key);
//! let rtp = [0x80, 0, 0, 1, 0, 0, 0, 160, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3, 4];
//! let srtp = sender.protect_rtp(&rtp).unwrap();
//! assert_eq!(srtp.len(), rtp.len() + 10);
//! assert_eq!(receiver.unprotect_rtp(&srtp).unwrap(), rtp);
//! assert!(receiver.unprotect_rtp(&srtp).is_err(), "a replay is refused");
//! ```
//!
//! - Each SSRC has its own rollover counter (estimated as in RFC 3711 §3.3.1, updated only
//!   once a packet authenticates) and a 128-packet replay window; SRTCP indexes likewise.
//! - An MKI, when the key has one, is written on protect and must match on unprotect.
//! - A key's lifetime (`2^31` on Lync's lines) is a packet budget per direction: past it,
//!   [`Error::KeyExhausted`].
//! - Key material is wiped on drop and never shown by `Debug`.

mod context;
mod error;
mod kdf;
mod key;
mod replay;
mod rtcp;
mod rtp;
mod sdes;
mod suite;

pub use context::Context;
pub use error::Error;
pub use key::MasterKey;
pub use sdes::{Crypto, CryptoError};
pub use suite::Suite;
