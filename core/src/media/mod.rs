//! Media: the SDP TwoLeg reads and writes on each leg when it anchors a call's media, and the
//! media encryption policy that decides, per leg, between SRTP and clear RTP.

// The engine takes these up as it anchors media; until then only their tests use them.
#![allow(dead_code)]

pub(crate) mod policy;
pub(crate) mod rewrite;
pub(crate) mod sdp;

pub use policy::{OfferForm, PolicyViolation};
