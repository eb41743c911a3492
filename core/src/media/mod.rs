//! Media: the SDP TwoLeg reads and writes on each leg when it anchors a call's media, and the
//! media encryption policy that decides, per leg, between SRTP and clear RTP, and the relay
//! every media plane runs per anchored media line ([`relay::MediaLine`]).

pub(crate) mod policy;
pub mod relay;
pub(crate) mod rewrite;
pub(crate) mod sdp;
mod stream;

pub use policy::{OfferForm, PolicyViolation};
pub use stream::{MediaCounters, MediaReport, MediaStream, SrtpKeys};
