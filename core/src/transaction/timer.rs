//! The RFC 3261 §17 transaction timers (UDP values), with RFC 6026's L and M.

/// A transaction timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub(crate) enum Timer {
    /// INVITE client: retransmit the INVITE (T1, doubling).
    A,
    /// INVITE client: give up waiting for a response (64·T1).
    B,
    /// INVITE client: absorb retransmitted non-2xx finals (32 s).
    D,
    /// Non-INVITE client: retransmit the request (T1 doubling, capped at T2).
    E,
    /// Non-INVITE client: give up waiting for a final response (64·T1).
    F,
    /// INVITE server: retransmit the non-2xx final (T1 doubling, capped at T2).
    G,
    /// INVITE server: give up waiting for the ACK (64·T1).
    H,
    /// INVITE server: absorb ACK retransmissions (T4).
    I,
    /// Non-INVITE server: absorb request retransmissions, re-answering them (64·T1).
    J,
    /// Non-INVITE client: absorb response retransmissions (T4).
    K,
    /// INVITE server, Accepted: absorb INVITE retransmissions after a 2xx (64·T1).
    L,
    /// INVITE client, Accepted: pass retransmitted or forked 2xx to the TU (64·T1).
    M,
}

impl Timer {
    /// Every timer, for forgetting all of a transaction's deadlines at once.
    pub(crate) const ALL: [Self; 12] = [
        Self::A,
        Self::B,
        Self::D,
        Self::E,
        Self::F,
        Self::G,
        Self::H,
        Self::I,
        Self::J,
        Self::K,
        Self::L,
        Self::M,
    ];
}
