//! What the engine reports besides datagrams: call status changes, finished calls, and why a
//! datagram was dropped or refused.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::sip::ParseError;
use crate::status::{CallRecord, CallStatus, LegState, Side, TurnDecision};
use crate::turn::Health;

/// Something hosts render, count or persist.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    // Calls.
    /// A call arrived and was routed: both legs exist now.
    CallStarted(Box<CallStatus>),
    /// A leg changed state (RFC 4235 terms).
    LegState {
        /// The call's tag.
        tag: String,
        /// Which leg.
        side: Side,
        /// Its new state.
        state: LegState,
    },
    /// A call ended; its record is in history now.
    CallEnded(Box<CallRecord>),
    /// The TURN state of a call's Lync leg changed: relays allocated, an allocation failed, or
    /// another server is being tried.
    TurnUpdated {
        /// The call's tag.
        tag: String,
        /// The call's TURN decision now.
        turn: TurnDecision,
    },

    /// TwoLeg's RTP port (and the RTCP port after it) has no TURN allocation left: a host that
    /// bound them may close them.
    MediaPortsFreed {
        /// The RTP port's address.
        rtp: SocketAddr,
    },

    // TURN servers.
    /// Health probing marked a TURN address/port combination up or down.
    TurnHealth {
        /// Index of the combination in the TURN server table.
        endpoint: usize,
        /// Its address.
        address: SocketAddr,
        /// Its health now.
        health: Health,
    },

    // Datagrams.
    /// A request was refused before any call existed (malformed, unsupported, no route, ...).
    Refused {
        /// Where it came from.
        source: SocketAddr,
        /// The request method.
        method: String,
        /// The status it got.
        status: u16,
        /// Why.
        reason: String,
        /// Whether the request was malformed (as opposed to refused by policy or state).
        malformed: bool,
    },
    /// A datagram was dropped without an answer.
    Dropped {
        /// Where it came from.
        source: SocketAddr,
        /// Why.
        reason: DropReason,
    },
    /// A message was sent again (a transaction or 2xx retransmission).
    Retransmitted {
        /// Where it went.
        destination: SocketAddr,
        /// Its first line.
        start_line: String,
    },
}

/// Why a datagram was dropped.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum DropReason {
    /// It is not a SIP message that can be answered.
    Malformed(String),
    /// A response that matches no transaction of this engine.
    StrayResponse(String),
    /// An ACK that matches no transaction or dialog.
    StrayAck,
    /// It arrived on an address that is not one of the configured listeners.
    UnknownListener(SocketAddr),
    /// A STUN message that answers no allocation or health probe of this engine (or comes
    /// from another address than the allocation's TURN server).
    StrayStun,
}

impl DropReason {
    pub(crate) fn malformed(error: &ParseError) -> Self {
        Self::Malformed(error.to_string())
    }
}
