//! What the engine tells its host about anchored media: a media stream of one leg, opened or
//! changed (TwoLeg's ports, the peer's addresses, SRTP keys per direction), and closed.

use std::fmt;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};
use twoleg_srtp::{MasterKey, Suite};

use crate::status::Side;

/// One leg's side of an anchored media stream, as the host's media plane needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaStream {
    /// The call's tag.
    pub tag: String,
    /// Which leg.
    pub side: Side,
    /// The media section's index in the leg's SDP.
    pub stream: u32,
    /// TwoLeg's RTP address on the leg (RTCP on the next port).
    pub local_rtp: SocketAddr,
    /// Where the peer receives RTP, once its SDP has said so.
    pub remote_rtp: Option<SocketAddr>,
    /// Where the peer receives RTCP (its `a=rtcp`, or the RTP port when it muxes, else the RTP
    /// port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// The stream it is relayed to: the same index on the other leg.
    pub peer_stream: u32,
    /// SRTP on this leg; `None`: clear RTP.
    pub srtp: Option<SrtpKeys>,
}

/// The SRTP keys of one leg: TwoLeg's own for what it sends, the peer's for what it receives.
/// `Debug` and `Serialize` show the suite only.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// TwoLeg's key: it protects what TwoLeg sends on the leg.
    pub send: MasterKey,
    /// The peer's key: it unprotects what the peer sends.
    pub receive: MasterKey,
}

impl SrtpKeys {
    /// The suite both keys are for.
    pub fn suite(&self) -> Suite {
        self.send.suite()
    }
}

impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

impl Serialize for SrtpKeys {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.suite().name())
    }
}
