//! TwoLeg's SIP codec: one UDP datagram in, a [`Parsed`] message out; a [`Request`] or
//! [`Response`] in, bytes out.
//!
//! **Why TwoLeg parses SIP itself.** rsip 0.4.0 and its fork ftth-rsip 0.4.1 were measured on
//! the RFC 4475 corpus (`tests/data/rfc4475`): each frames only 7 of its 13 valid messages
//! (both reject `wsinv`, `intmeth`, `esc01`, `esc02`, `longreq` and `semiuri`), refuses the
//! unknown-scheme Request-URI of `unkscm` (which must be answered 416, so must be read), and
//! accepts 14 of the 19 invalid messages silently. Both also draw Call-IDs, tags and branches
//! from uuid v4 (the OS random source) in their `Default` impls, which a deterministic core must
//! not reach. ezk's `sip-types` builds for wasm and draws nothing from the OS, but reads methods
//! case-insensitively, against RFC 3261 §7.1 (`invite` is not `INVITE`). So the codec boundary
//! the engine sees is this module, small and strict where RFC 3261 is, with its own typed views
//! of the headers a B2BUA reads (Via, From/To, CSeq, Contact, Route) and raw pass-through for
//! every other header.

mod frame;
mod header;
mod message;
mod method;
mod name_addr;
mod parse;
mod reply;
#[cfg(feature = "rsip")]
mod rsip_interop;
mod scan;
mod status;
mod uri;
mod via;

pub use frame::{Frame, FramingError, frame};
pub use header::{HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use name_addr::{NameAddr, NameAddrError};
pub use parse::{CSeq, ParseError, Parsed, Rejected, Salvage, parse};
pub use reply::ReplyTo;
pub use status::{CodeKind, StatusCode};
pub use uri::{Uri, UriError};
pub use via::{MAGIC_COOKIE, Via, ViaError};
