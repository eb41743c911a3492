//! The engine's deadlines, all in one table: transaction timers (RFC 3261 §17), the calls' own
//! timers, the TURN allocations' retransmissions and the health probing rounds.

use std::time::Duration;

use super::B2bua;
use super::call::{CallId, RelayId};
use super::lingering::Linger;
use crate::status::Side;
use crate::transaction::{Timer, TxId};

/// Deadlines of calls (as opposed to transactions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// Retransmit the 2xx waiting for its ACK on this leg.
    Retransmit2xx(Side),
    /// Give up waiting for the ACK on this leg (64·T1).
    AckTimeout(Side),
    /// The callee rang too long.
    RingTimeout,
    /// A CANCEL went out for this relay 64·T1 ago and its INVITE got no final response.
    CancelTimeout(RelayId),
    /// A relayed re-INVITE got a provisional response but no final one in 64·T1 (the B2BUA's
    /// stand-in for a proxy's Timer C): it is cancelled.
    RelayNoAnswer(RelayId),
    /// The Lync leg's INVITE has waited for its TURN relays as long as configured.
    TurnGiveUp,
    /// Renew the call's TURN allocations and permissions.
    TurnRefresh,
    /// Look whether the anchored media has been silent too long.
    MediaTimeout,
    /// Send leg A's outstanding reliable provisional again (RFC 3262).
    Retransmit1xx,
    /// TwoLeg refreshes this leg's session (RFC 4028, at half the interval).
    SessionRefresh(Side),
    /// This leg's session went unrefreshed too long: the call ends.
    SessionExpiry(Side),
    /// The initial INVITE (this relay) got no response from its destination in the route's
    /// `failover_after_ms`: the next destination is tried.
    Failover(RelayId),
}

impl CallTimer {
    /// The timers a call has whatever its relays: forgotten when it ends.
    pub(crate) const PER_CALL: [Self; 13] = [
        Self::Retransmit2xx(Side::A),
        Self::Retransmit2xx(Side::B),
        Self::AckTimeout(Side::A),
        Self::AckTimeout(Side::B),
        Self::RingTimeout,
        Self::TurnGiveUp,
        Self::TurnRefresh,
        Self::MediaTimeout,
        Self::Retransmit1xx,
        Self::SessionRefresh(Side::A),
        Self::SessionRefresh(Side::B),
        Self::SessionExpiry(Side::A),
        Self::SessionExpiry(Side::B),
    ];
}

/// Everything with a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Tx(TxId, Timer),
    Call(CallId, CallTimer),
    /// The earliest retransmission deadline of the TURN allocations.
    TurnAllocations,
    /// The next round of TURN health probes.
    Probe,
    /// The next OPTIONS ping round of a route (by index).
    Ping(usize),
    /// A DNS query (by id) has waited long enough for its answer.
    Resolve(u64),
}

impl B2bua {
    pub(crate) fn handle_timeout(&mut self) {
        while let Some(linger) = self.lingering.pop_expired(self.now) {
            if let Linger::AnsweredInvite {
                merge_key: Some(merge_key),
            } = linger
            {
                self.merge_index.remove(&*merge_key);
            }
        }
        while let Some(key) = self.timers.pop_due(self.now) {
            match key {
                TimerKey::Tx(id, timer) => self.on_tx_timer(id, timer),
                TimerKey::Call(call, timer) => self.on_call_timer(call, timer),
                TimerKey::TurnAllocations => {
                    let owners = self.allocations.handle_timeout(self.now, &mut self.rng);
                    self.flush_allocations();
                    for owner in owners {
                        self.on_allocation_step(owner);
                    }
                }
                TimerKey::Probe => self.on_probe_timer(),
                TimerKey::Ping(route) => self.on_ping_timer(route),
                TimerKey::Resolve(id) => self.on_resolve_timeout(id),
            }
        }
    }

    pub(crate) fn set_call_timer(&mut self, call: CallId, timer: CallTimer, after: Duration) {
        self.timers
            .set(TimerKey::Call(call, timer), self.now + after);
    }

    pub(crate) fn cancel_call_timer(&mut self, call: CallId, timer: CallTimer) {
        self.timers.cancel(TimerKey::Call(call, timer));
    }
}
