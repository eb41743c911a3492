//! Why a packet could not be protected or unprotected.

/// An SRTP or SRTCP failure. Every one concerns a single packet: the context stays usable.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Shorter than its headers, MKI and tag.
    #[error("packet too short ({len} bytes)")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Not RTP/RTCP version 2, or a header that runs past the packet.
    #[error("not an RTP version 2 packet")]
    Malformed,
    /// The tag does not match: a wrong key, or a packet changed on the way.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The index was seen already.
    #[error("replayed packet (index {index})")]
    Replayed {
        /// The packet's index.
        index: u64,
    },
    /// The index is older than the replay window.
    #[error("packet too old for the replay window (index {index})")]
    TooOld {
        /// The packet's index.
        index: u64,
    },
    /// The MKI in the packet is not the key's.
    #[error("unknown MKI")]
    UnknownMki,
    /// The key has protected as many packets as its lifetime allows.
    #[error("the master key's lifetime is used up")]
    KeyExhausted,
    /// The SRTCP index ran past 2^31 - 1.
    #[error("SRTCP index exhausted")]
    IndexExhausted,
}
