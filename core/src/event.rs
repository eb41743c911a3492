//! What the engine reports besides datagrams: call status changes, finished calls, media ports,
//! TURN server health, and why a datagram was refused or dropped.
//!
//! What a host does with each: persist [`Event::CallEnded`]; bind the ports of
//! [`Event::MediaPortsOpened`] and close those of [`Event::MediaPortsFreed`]; relay anchored
//! media per [`Event::MediaStream`] until [`Event::MediaStreamClosed`]; show or count the rest.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use crate::ConnectionId;
use crate::media::{MediaStream, PolicyViolation};
use crate::sip::{FramingError, Method, ParseError, StatusCode};
use crate::status::{CallRecord, CallStatus, LegState, Side, TurnDecision};
use crate::turn::{EndpointId, Health};

/// Something hosts render, count or persist.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[rustfmt::skip]
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

    // Media ports.
    /// TwoLeg is about to send from this RTP port (and the RTCP port after it): a host binds
    /// them, and hands in what arrives on them.
    MediaPortsOpened {
        /// The RTP port's address.
        rtp: SocketAddr,
    },
    /// TwoLeg's RTP port (and the RTCP port after it) is no longer used: a host that bound
    /// them closes them.
    MediaPortsFreed {
        /// The RTP port's address.
        rtp: SocketAddr,
    },

    // Anchored media.
    /// An anchored media stream of one leg opened or changed: the host's media plane binds
    /// `local_rtp` (and the RTCP port after it) if it has not, and relays between it and the
    /// peer stream on the other leg, with SRTP per the keys.
    MediaStream(Box<MediaStream>),
    /// An anchored media stream of one leg is over: the host closes its ports.
    MediaStreamClosed {
        /// The call's tag.
        tag: String,
        /// Which leg.
        side: Side,
        /// The media section's index.
        stream: u32,
        /// TwoLeg's RTP address it used.
        local_rtp: SocketAddr,
    },

    // Stream connections.
    /// A stream connection cannot be framed any further (RFC 3261 §18.3): the host closes it.
    CloseConnection {
        /// Which.
        connection: ConnectionId,
        /// Why.
        reason: FramingError,
    },

    // TURN servers.
    /// Health probing marked a TURN address/port combination up or down.
    TurnHealth {
        /// The combination in the TURN server table.
        endpoint: EndpointId,
        /// Its address.
        address: SocketAddr,
        /// Its health now.
        health: Health,
    },

    // DNS.
    /// Look this up and hand the answer in with [`Input::Resolved`](crate::Input::Resolved)
    /// (no records, or a failure); unanswered for 5 s, it counts as failed.
    Resolve(crate::dns::DnsQuery),

    // Route destinations.
    /// A route's destination went down (missed pings, or a call's INVITE to its address timed
    /// out or could not be sent) or came back up (answered a ping).
    DestinationHealth {
        /// The route's name.
        route: String,
        /// The destination as configured: `ip:port`, `host:port` or a host name.
        destination: String,
        /// Its health now.
        health: Health,
    },

    // Datagrams.
    /// A request was refused before any call existed (malformed, unsupported, no route, ...).
    Refused {
        /// Where it came from.
        source: SocketAddr,
        /// The request method.
        method: Method,
        /// The status it got.
        status: StatusCode,
        /// Why.
        reason: Refusal,
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

/// Why a request was refused before any call existed, each with the rule it breaks.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Refusal {
    /// It is not well-formed (RFC 3261 §8.2, 400 or 505 or 513).
    Malformed(ParseError),
    /// It cannot be framed on its stream (RFC 3261 §18.3: 400, then the connection closes).
    Framing(FramingError),
    /// A method TwoLeg does not handle (§8.2.1, 405 with Allow).
    MethodNotAllowed,
    /// A Request-URI that is not `sip:` or `sips:` (§8.2.2.1, 416).
    UnsupportedUriScheme,
    /// Max-Forwards reached zero (§16.3, 483).
    TooManyHops,
    /// A copy of an INVITE already being handled arrived another way (§8.2.2.2, 482).
    MergedRequest,
    /// `Require` names extensions TwoLeg does not support (§8.2.2.3, 420 with Unsupported).
    BadExtension(Vec<String>),
    /// TwoLeg is shutting down and takes no new calls (503 with Retry-After).
    ShuttingDown,
    /// An INVITE body of a type TwoLeg does not relay (§8.2.3, 415 with Accept).
    UnsupportedMediaType,
    /// No route matches the Request-URI (404).
    NoRoute,
    /// A request with a To tag that names no dialog, or a request outside a dialog that only
    /// makes sense inside one (§12.2.2, 481).
    NoSuchDialog,
    /// Its SDP offer cannot meet the media encryption policy of its zone (488 with a Warning).
    MediaPolicy(PolicyViolation),
    /// The call needs the encryption B2BUA, which has as many calls as it takes (503 with
    /// Retry-After).
    EncryptionB2buaBusy,
    /// Its Session-Expires is below the minimum session refresh interval (RFC 4028, 422 with
    /// Min-SE).
    SessionIntervalTooSmall,
    /// An INVITE TwoLeg itself sent came back (one of its Vias is TwoLeg's own): 482, no
    /// second call.
    Loop,
    /// Its route is at its limit of concurrent calls or of calls per second (503 with
    /// Retry-After).
    RouteBusy,
    /// Every destination of its route is down (503 with Retry-After).
    NoDestination,
    /// The listener it arrived on is at its limit of concurrent calls or of calls per
    /// second (503 with Retry-After).
    ListenerBusy,
    /// Its source's zone refuses calls (403).
    Forbidden,
    /// Its zone checks credentials and these did not do (407 with a new challenge).
    Unauthenticated(crate::auth::AuthFailure),
    /// Its source sent more requests per second than flood protection allows, and is refused
    /// for a while (503 with Retry-After).
    Flooding,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(error) => error.fmt(f),
            Self::Framing(error) => error.fmt(f),
            Self::MethodNotAllowed => f.write_str("method not allowed"),
            Self::UnsupportedUriScheme => f.write_str("unsupported URI scheme"),
            Self::TooManyHops => f.write_str("Max-Forwards reached zero"),
            Self::MergedRequest => f.write_str("merged request (loop detected)"),
            Self::BadExtension(options) => {
                write!(f, "unsupported extension {}", options.join(", "))
            }
            Self::ShuttingDown => f.write_str("shutting down"),
            Self::UnsupportedMediaType => f.write_str("unsupported body type"),
            Self::NoRoute => f.write_str("no route"),
            Self::NoSuchDialog => f.write_str("no such dialog"),
            Self::MediaPolicy(violation) => violation.fmt(f),
            Self::EncryptionB2buaBusy => f.write_str("the encryption B2BUA is at its call limit"),
            Self::SessionIntervalTooSmall => {
                f.write_str("Session-Expires below the minimum session refresh interval")
            }
            Self::Loop => f.write_str("an INVITE TwoLeg sent came back to it (loop)"),
            Self::RouteBusy => f.write_str("the route is at its call limit"),
            Self::NoDestination => f.write_str("every destination of the route is down"),
            Self::ListenerBusy => f.write_str("the listener is at its call limit"),
            Self::Forbidden => f.write_str("the zone refuses calls"),
            Self::Unauthenticated(failure) => write!(f, "not authenticated: {failure}"),
            Self::Flooding => f.write_str("the source is flooding"),
        }
    }
}

impl Refusal {
    /// Whether the request was malformed (as opposed to refused by policy or state).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::Framing(_))
    }
}

/// Why a datagram was dropped.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum DropReason {
    /// It is not a SIP message that can be answered (or an ACK, which is never answered).
    Malformed(ParseError),
    /// A response that matches no transaction of this engine.
    StrayResponse {
        /// Its status.
        status: StatusCode,
        /// Its CSeq.
        cseq: String,
    },
    /// An ACK that matches no transaction or dialog.
    StrayAck,
    /// It arrived on an address that is not one of the configured listeners.
    UnknownListener(SocketAddr),
    /// A STUN message that answers no allocation or health probe of this engine (or comes
    /// from another address than the allocation's TURN server).
    StrayStun,
    /// Stream bytes that cannot be framed and cannot be answered (RFC 3261 §18.3); the
    /// connection is closed.
    Framing(FramingError),
    /// Stream bytes that came with no connection to answer on.
    NoConnection,
    /// An INVITE from a zone that drops calls.
    ZoneDropsCalls,
    /// A request from a source that flood protection blocks (action `drop`).
    Flooding,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(error) => error.fmt(f),
            Self::StrayResponse { status, cseq } => {
                write!(f, "response {status} ({cseq}) matches no transaction")
            }
            Self::StrayAck => f.write_str("ACK matches no transaction or dialog"),
            Self::UnknownListener(address) => write!(f, "{address} is not a listener"),
            Self::StrayStun => f.write_str("STUN message answers nothing of this engine"),
            Self::Framing(error) => error.fmt(f),
            Self::NoConnection => f.write_str("stream bytes without a connection"),
            Self::ZoneDropsCalls => f.write_str("the zone drops calls"),
            Self::Flooding => f.write_str("the source is flooding"),
        }
    }
}
