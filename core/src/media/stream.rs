//! What the engine tells its host about anchored media: a media stream of one leg, opened or
//! changed (TwoLeg's ports, the peer's addresses, SRTP keys per direction), and closed.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize, Serializer};
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

/// What the host's media plane counted on one leg of one anchored stream since the stream
/// opened (totals, RTP and RTCP together): what the peer sent TwoLeg and what TwoLeg sent it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaCounters {
    /// Packets from the peer that were forwarded.
    pub packets_received: u64,
    /// Their bytes, as they arrived.
    pub bytes_received: u64,
    /// Packets TwoLeg sent the peer.
    pub packets_sent: u64,
    /// Their bytes, as sent.
    pub bytes_sent: u64,
    /// Packets from the peer missing by RTP sequence numbers.
    pub lost: u64,
    /// SRTP or SRTCP packets from the peer that failed authentication (dropped).
    pub auth_failures: u64,
    /// SRTP or SRTCP packets from the peer refused as replays (dropped).
    pub replays: u64,
}

/// The host's report on one leg of one anchored stream (an input of the engine), so that call
/// status and history show what the media plane saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaReport {
    /// The call's tag, as in [`MediaStream::tag`].
    pub tag: String,
    /// Which leg.
    pub side: Side,
    /// The media section's index, as in [`MediaStream::stream`].
    pub stream: u32,
    /// The totals so far.
    pub counters: MediaCounters,
}
