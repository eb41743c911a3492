//! Call status and call history as Expressway shows them: one row per leg, both legs of a call
//! sharing its tag, each leg with its own serial number.

use std::collections::VecDeque;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::media::MediaCounters;
use crate::time::Instant;

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.as_nanos())
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Self::from_nanos)
    }
}

/// Which leg: A toward the caller (TwoLeg is its UAS), B toward the callee (TwoLeg is its UAC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Toward the caller.
    A,
    /// Toward the callee.
    B,
}

impl Side {
    /// Leg A then leg B, the order of every per-leg array.
    pub const BOTH: [Self; 2] = [Self::A, Self::B];

    /// This leg's place in a per-leg array.
    pub fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }

    /// The other leg.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// A leg's dialog state, in RFC 4235 terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// The INVITE was sent or received; no response beyond 100 yet.
    Trying,
    /// A provisional response with a tag: an early dialog.
    Early,
    /// A 2xx: the dialog is established.
    Confirmed,
    /// Over.
    Terminated,
}

/// One leg as call status and call history show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegStatus {
    /// A or B.
    pub side: Side,
    /// This leg's serial number (unique per engine).
    pub serial: u64,
    /// Its state.
    pub state: LegState,
    /// The leg's Call-ID.
    pub call_id: String,
    /// TwoLeg's tag on this leg.
    pub local_tag: String,
    /// The peer's tag, once known.
    pub remote_tag: Option<String>,
    /// The caller's URI on this leg (From).
    pub source: String,
    /// The callee's URI on this leg (Request-URI).
    pub destination: String,
    /// The transport this leg uses.
    #[serde(default)]
    pub transport: crate::Transport,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The listener this leg uses.
    pub local: SocketAddr,
    /// The final status of the leg's INVITE, once known.
    pub final_status: Option<u16>,
}

/// What TwoLeg decided and did about TURN for a call's Lync leg: leg B for a call routed toward
/// Lync, leg A for a call that came from the Lync signalling destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "one decision per call, built once; boxing would only move the same bytes"
)]
pub enum TurnDecision {
    /// The call does not go through the Microsoft Lync B2BUA.
    NotApplicable,
    /// This TURN server was offered: relays were (or are being) allocated on it.
    Offered {
        /// The Lync leg, whose SDP carries the relay candidates.
        leg: Side,
        /// Index of the server in the config's `turn_servers`.
        server: usize,
        /// The address/port combination chosen.
        address: SocketAddr,
        /// The server's description.
        description: String,
        /// TwoLeg's RTP address the relays are allocated from (RTCP is the next port); `None`
        /// when the media port range had no free pair.
        media: Option<SocketAddr>,
        /// The RTP and RTCP relays on it.
        relay: RelayState,
        /// Where the server redirected the allocations (300 Try Alternate), if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redirected_to: Option<SocketAddr>,
        /// Servers tried before this one whose allocation failed (failover), in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed_over: Vec<TurnAttempt>,
    },
    /// No TURN server was offered.
    NotOffered {
        /// The Lync leg.
        leg: Side,
        /// Why.
        reason: String,
    },
}

/// The RTP and RTCP relays of a call's Lync leg.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RelayState {
    /// Allocate requests are out; the Lync leg's INVITE waits for them.
    Allocating,
    /// Both relays were granted; their `typ relay` candidates are in the Lync leg's SDP.
    Allocated {
        /// The relayed address for RTP (component 1).
        rtp: SocketAddr,
        /// The relayed address for RTCP (component 2).
        rtcp: SocketAddr,
        /// TwoLeg's RTP address as the TURN server saw it (`raddr`/`rport`).
        mapped: SocketAddr,
    },
    /// The allocation failed; the Lync leg went on without relay candidates.
    Failed(TurnError),
}

/// Why an allocation failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnError {
    /// The TURN error code (401 wrong credentials, 486 quota, 508 capacity, ...), if the server
    /// answered with one.
    pub code: Option<u16>,
    /// What happened, in words.
    pub reason: String,
}

impl From<&crate::turn::TurnFailure> for TurnError {
    fn from(failure: &crate::turn::TurnFailure) -> Self {
        Self {
            code: failure.code(),
            reason: failure.to_string(),
        }
    }
}

/// A server tried before the one in effect, and why it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnAttempt {
    /// Index of the server in the config's `turn_servers`.
    pub server: usize,
    /// The address/port combination tried.
    pub address: SocketAddr,
    /// TwoLeg's RTP address it was tried from.
    pub media: Option<SocketAddr>,
    /// Why it failed.
    pub error: TurnError,
}

/// How TwoLeg let a call's caller in: the zone its address is in and what that zone's
/// authentication policy made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The caller's zone (`Default Zone` when no zone lists its address).
    pub zone: String,
    /// Whether, and as whom, the caller is authenticated.
    pub authentication: CallerAuthentication,
}

/// What a zone's authentication policy made of a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerAuthentication {
    /// `check_credentials`: the caller answered TwoLeg's digest challenge as this user.
    Checked {
        /// The user its credentials named.
        username: String,
    },
    /// `treat_as_authenticated`: the zone is trusted; no credentials were asked for.
    TreatedAsAuthenticated,
    /// `do_not_check_credentials`: no credentials were asked for; not authenticated.
    NotChecked,
}

/// A live call: both legs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallStatus {
    /// The call tag, shared by both legs.
    pub tag: String,
    /// The route the call took.
    pub route: String,
    /// When the INVITE arrived.
    pub started_at: Instant,
    /// When the callee answered.
    pub answered_at: Option<Instant>,
    /// The TURN decision.
    pub turn: TurnDecision,
    /// Leg A then leg B.
    pub legs: [LegStatus; 2],
    /// The encryption B2BUA's part, when it took the call's media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaStatus>,
    /// The destinations leg B's INVITE went to, in order: every one but the last failed
    /// over to the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<DestinationAttempt>,
    /// How the caller was let in (absent from records kept before TwoLeg recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<Admission>,
}

/// One destination a call's INVITE went to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationAttempt {
    /// Where.
    pub address: SocketAddr,
    /// Why the call went on to the next destination (`503 Service Unavailable`, `no answer
    /// in 2000 ms`, `transport error`); `None` for the one that has the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A source flood protection refused requests from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Its IP address.
    pub address: std::net::IpAddr,
    /// Whether it is blocked now.
    pub blocked: bool,
    /// How much longer it is blocked, in milliseconds (0 when it is not).
    pub blocked_for_ms: u64,
    /// How often it went over the limit.
    pub blocks: u64,
    /// Its requests refused (answered 503 or dropped).
    pub requests_refused: u64,
}

/// One destination of a route, with its health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationStatus {
    /// The route's name.
    pub route: String,
    /// Where: `ip:port`, or the host name as configured.
    pub address: String,
    /// Lower goes first.
    pub priority: u16,
    /// Share of the calls among those of the same priority.
    pub weight: u16,
    /// Down: failed its pings (or a call by timeout or transport error) and left out until
    /// it answers a ping again.
    pub health: crate::turn::Health,
    /// OPTIONS pings sent to it.
    pub pings_sent: u64,
    /// Pings missed in a row.
    pub missed_pings: u32,
    /// Calls whose INVITE went to it.
    pub calls: u64,
}

/// What the encryption B2BUA did with a call's media (component type `B2BUA` in call status
/// and history).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaStatus {
    /// The component that took the media, as Expressway names it: `B2BUA`.
    pub component: String,
    /// Per leg (A then B): its zone and that zone's media encryption mode.
    pub zones: [ZoneStatus; 2],
    /// The anchored streams, one per media line.
    pub streams: Vec<StreamStatus>,
}

/// A leg's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStatus {
    /// The zone's name.
    pub name: String,
    /// Its media encryption mode.
    pub mode: crate::config::MediaEncryptionMode,
}

/// One anchored media line, both legs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    /// Its index in the SDP.
    pub index: u32,
    /// Leg A then leg B.
    pub legs: [StreamLegStatus; 2],
}

/// One leg of an anchored media line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLegStatus {
    /// TwoLeg's RTP address on the leg.
    pub local: SocketAddr,
    /// The peer's RTP address, once known.
    pub remote: Option<SocketAddr>,
    /// The SRTP suite, when the leg is encrypted; `None`: clear RTP.
    pub suite: Option<String>,
    /// What the media plane last reported for the leg.
    #[serde(default)]
    pub counters: MediaCounters,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered, then hung up.
    Completed,
    /// The callee (or TwoLeg) refused it with a final status.
    Rejected,
    /// The caller cancelled it before an answer.
    Cancelled,
    /// A timer ran out (no response, no answer, no ACK).
    TimedOut,
    /// Ended from the admin API or the simulator.
    Disconnected,
    /// The engine hosting it failed.
    Failed,
}

/// Who ended a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The caller (leg A).
    Caller,
    /// The callee (leg B).
    Callee,
    /// TwoLeg itself (a timer, an error, a disconnect).
    B2bua,
}

/// A finished call, as call history keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call tag.
    pub tag: String,
    /// The route the call took (empty if it was refused before routing).
    pub route: String,
    /// When the INVITE arrived.
    pub started_at: Instant,
    /// When the callee answered.
    pub answered_at: Option<Instant>,
    /// When the call ended.
    pub ended_at: Instant,
    /// The final status the caller got.
    pub final_status: u16,
    /// How it ended.
    pub outcome: Outcome,
    /// Who ended it.
    pub ended_by: EndedBy,
    /// Why, in words (a BYE's Reason, a timer, a status).
    pub reason: String,
    /// The TURN decision.
    pub turn: TurnDecision,
    /// Leg A then leg B, as they ended.
    pub legs: [LegStatus; 2],
    /// The encryption B2BUA's part, when it took the call's media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaStatus>,
    /// The destinations leg B's INVITE went to, in order: every one but the last failed
    /// over to the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<DestinationAttempt>,
    /// How the caller was let in (absent from records kept before TwoLeg recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<Admission>,
}

impl CallStatus {
    /// The record of this call ending at `at`: every leg terminated.
    pub fn end(
        self,
        at: Instant,
        final_status: u16,
        outcome: Outcome,
        ended_by: EndedBy,
        reason: String,
    ) -> CallRecord {
        let Self {
            tag,
            route,
            started_at,
            answered_at,
            turn,
            mut legs,
            media,
            attempts,
            admission,
        } = self;
        for leg in &mut legs {
            leg.state = LegState::Terminated;
        }
        CallRecord {
            tag,
            route,
            started_at,
            answered_at,
            ended_at: at,
            final_status,
            outcome,
            ended_by,
            reason,
            turn,
            legs,
            media,
            attempts,
            admission,
        }
    }

    /// What a host records for a live call whose engine failed (a trapped instance): 500,
    /// `failed`, ended by TwoLeg with reason `engine fault`.
    pub fn engine_fault(self, at: Instant) -> CallRecord {
        self.end(
            at,
            500,
            Outcome::Failed,
            EndedBy::B2bua,
            ENGINE_FAULT.to_owned(),
        )
    }

    /// Applies a leg state change reported by [`Event::LegState`](crate::Event::LegState).
    pub fn set_leg_state(&mut self, side: Side, state: LegState) {
        self.legs[side.index()].state = state;
    }
}

/// The reason recorded for calls lost to an engine fault.
pub const ENGINE_FAULT: &str = "engine fault";

impl CallRecord {
    /// How long the call was connected (zero if never answered).
    pub fn duration(&self) -> std::time::Duration {
        self.answered_at
            .map(|answered| self.ended_at.saturating_since(answered))
            .unwrap_or_default()
    }
}

/// Live calls as a host follows them from the engine's events (for a host that must close
/// them as `engine fault` should the engine instance fail: a failed instance can no longer be
/// asked).
#[derive(Clone, Debug, Default)]
pub struct LiveCalls {
    calls: std::collections::BTreeMap<String, CallStatus>,
}

impl LiveCalls {
    /// Follows one event, reported at `at`.
    pub fn apply(&mut self, at: Instant, event: &crate::Event) {
        match event {
            crate::Event::CallStarted(call) => {
                self.calls.insert(call.tag.clone(), (**call).clone());
            }
            crate::Event::LegState { tag, side, state } => {
                if let Some(call) = self.calls.get_mut(tag) {
                    call.set_leg_state(*side, *state);
                    // Leg A is confirmed when the caller gets the callee's 2xx.
                    if *side == Side::A && *state == LegState::Confirmed {
                        call.answered_at.get_or_insert(at);
                    }
                }
            }
            crate::Event::TurnUpdated { tag, turn } => {
                if let Some(call) = self.calls.get_mut(tag) {
                    call.turn = turn.clone();
                }
            }
            crate::Event::CallEnded(record) => {
                self.calls.remove(&record.tag);
            }
            _ => {}
        }
    }

    /// How many calls are live.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The engine failed at `at`: every live call's record, as `engine fault`.
    pub fn fail(&mut self, at: Instant) -> Vec<CallRecord> {
        std::mem::take(&mut self.calls)
            .into_values()
            .map(|call| call.engine_fault(at))
            .collect()
    }
}

/// Finished calls, newest last, bounded.
#[derive(Clone, Debug, Default)]
pub struct History {
    records: VecDeque<CallRecord>,
    limit: usize,
    total: u64,
}

impl History {
    /// Keeps at most `limit` records.
    pub fn new(limit: usize) -> Self {
        Self {
            records: VecDeque::new(),
            limit: limit.max(1),
            total: 0,
        }
    }

    /// Adds a record, forgetting the oldest beyond the limit.
    pub fn push(&mut self, record: CallRecord) {
        if self.records.len() == self.limit {
            self.records.pop_front();
        }
        self.records.push_back(record);
        self.total += 1;
    }

    /// Records, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &CallRecord> {
        self.records.iter()
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many calls ever ended (kept or not).
    pub fn total(&self) -> u64 {
        self.total
    }
}
