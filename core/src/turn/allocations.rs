//! Every TURN allocation of one engine, as one sans-IO set: each allocation lives on one local
//! media port and serves an owner (a call) until it is abandoned; then it is deleted (Refresh
//! with lifetime 0) and forgotten once the server has answered or given up.
//!
//! The set follows the engine's own contract: `handle_*` for what happens, `poll_*` for what
//! to do. After every mutation, drain [`Allocations::poll_transmit`] and
//! [`Allocations::poll_freed`], and hand in [`Allocations::handle_timeout`] at
//! [`Allocations::poll_timeout`].

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;

use super::client::{AllocationState, TurnAllocation};
use crate::scheduler::Scheduler;
use crate::time::Instant;

/// Identifies one allocation inside an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AllocId(u64);

/// A datagram one allocation sends to its server.
#[derive(Debug)]
#[must_use]
pub(crate) struct AllocTransmit {
    /// The media port it goes from.
    pub(crate) local: SocketAddr,
    /// The TURN server.
    pub(crate) server: SocketAddr,
    /// Its bytes.
    pub(crate) contents: Vec<u8>,
    /// Whether it is a retransmission (RFC 8489 §6.2.1).
    pub(crate) retransmission: bool,
}

/// What a STUN datagram arriving on a media port meant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrival<O> {
    /// No allocation lives on that port.
    NotOurs,
    /// It came from another address than the allocation's server: ignored.
    FromElsewhere,
    /// The allocation took it; its owner (if it still has one) may look at the new state.
    Stepped(Option<O>),
}

#[derive(Debug)]
struct Entry<O> {
    turn: TurnAllocation,
    local: SocketAddr,
    /// `None` once abandoned: it is being deleted.
    owner: Option<O>,
    deleting: bool,
}

/// The allocations, by id and by local port.
#[derive(Debug)]
pub(crate) struct Allocations<O> {
    entries: BTreeMap<AllocId, Entry<O>>,
    by_local: BTreeMap<SocketAddr, AllocId>,
    timers: Scheduler<AllocId>,
    next_id: u64,
    transmits: VecDeque<AllocTransmit>,
    /// RTP ports (even) of pairs no allocation uses any more.
    freed: VecDeque<SocketAddr>,
}

impl<O: Copy> Allocations<O> {
    pub(crate) fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
            by_local: BTreeMap::new(),
            timers: Scheduler::new(),
            next_id: 0,
            transmits: VecDeque::new(),
            freed: VecDeque::new(),
        }
    }

    /// How many allocations are alive (allocating, granted or being deleted).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no allocation is alive.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts an allocation from `local` on `server` for `owner`.
    pub(crate) fn start(
        &mut self,
        owner: O,
        local: SocketAddr,
        server: SocketAddr,
        (username, password): (&str, &str),
        now: Instant,
        rng: &mut impl Rng,
    ) -> AllocId {
        let (turn, first) = TurnAllocation::allocate(server, username, password, now, rng);
        self.next_id += 1;
        let id = AllocId(self.next_id);
        self.transmits.push_back(AllocTransmit {
            local,
            server,
            contents: first,
            retransmission: false,
        });
        self.entries.insert(
            id,
            Entry {
                turn,
                local,
                owner: Some(owner),
                deleting: false,
            },
        );
        self.by_local.insert(local, id);
        self.schedule(id);
        id
    }

    /// Where an allocation stands; `None` once it is forgotten.
    pub(crate) fn state(&self, id: AllocId) -> Option<&AllocationState> {
        self.entries.get(&id).map(|entry| entry.turn.state())
    }

    /// The server an allocation lives on now (it may have moved after a 300 Try Alternate).
    pub(crate) fn server(&self, id: AllocId) -> Option<SocketAddr> {
        self.entries.get(&id).map(|entry| entry.turn.server())
    }

    /// A STUN datagram that arrived on `local` from `source`.
    pub(crate) fn handle_datagram(
        &mut self,
        local: SocketAddr,
        source: SocketAddr,
        contents: &[u8],
        now: Instant,
        rng: &mut impl Rng,
    ) -> Arrival<O> {
        let Some(&id) = self.by_local.get(&local) else {
            return Arrival::NotOurs;
        };
        let entry = self
            .entries
            .get_mut(&id)
            .expect("by_local names live allocations only");
        if source != entry.turn.server() {
            return Arrival::FromElsewhere;
        }
        let sends = entry.turn.handle_datagram(contents, now, rng);
        Arrival::Stepped(self.after_step(id, sends, false, now, rng))
    }

    /// When to call [`Allocations::handle_timeout`] next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Retransmits or gives up whatever is due; returns the owners whose allocations moved.
    pub(crate) fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) -> Vec<O> {
        let mut owners = Vec::new();
        while let Some(id) = self.timers.pop_due(now) {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let sends = entry.turn.handle_timeout(now);
            if let Some(owner) = self.after_step(id, sends, true, now, rng) {
                owners.push(owner);
            }
        }
        owners
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<AllocTransmit> {
        self.transmits.pop_front()
    }

    /// The next RTP port whose pair no allocation uses any more.
    pub(crate) fn poll_freed(&mut self) -> Option<SocketAddr> {
        self.freed.pop_front()
    }

    /// Renews a granted allocation for `lifetime`.
    pub(crate) fn refresh(
        &mut self,
        id: AllocId,
        lifetime: Duration,
        now: Instant,
        rng: &mut impl Rng,
    ) {
        self.request(id, |turn| turn.refresh(lifetime, now, rng));
    }

    /// Asks a granted allocation for a permission toward `peer`.
    pub(crate) fn permit(&mut self, id: AllocId, peer: IpAddr, now: Instant, rng: &mut impl Rng) {
        self.request(id, |turn| turn.create_permission(peer, now, rng));
    }

    /// The owner needs it no more: it is deleted once it can be, then forgotten.
    pub(crate) fn abandon(&mut self, id: AllocId, now: Instant, rng: &mut impl Rng) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.owner = None;
        }
        self.reap(id, now, rng);
    }

    fn request(&mut self, id: AllocId, make: impl FnOnce(&mut TurnAllocation) -> Vec<u8>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if !matches!(entry.turn.state(), AllocationState::Allocated { .. }) {
            return;
        }
        let contents = make(&mut entry.turn);
        self.transmits.push_back(AllocTransmit {
            local: entry.local,
            server: entry.turn.server(),
            contents,
            retransmission: false,
        });
        self.schedule(id);
    }

    /// Queues what a step sends and reschedules; an abandoned allocation is reaped. Returns
    /// the owner, if it still has one.
    fn after_step(
        &mut self,
        id: AllocId,
        sends: Vec<Vec<u8>>,
        retransmission: bool,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<O> {
        let entry = self.entries.get(&id)?;
        let (local, server, owner) = (entry.local, entry.turn.server(), entry.owner);
        for contents in sends {
            self.transmits.push_back(AllocTransmit {
                local,
                server,
                contents,
                retransmission,
            });
        }
        self.schedule(id);
        if owner.is_none() {
            self.reap(id, now, rng);
        }
        owner
    }

    fn schedule(&mut self, id: AllocId) {
        match self.entries.get(&id).and_then(|e| e.turn.poll_timeout()) {
            Some(at) => self.timers.set(id, at),
            None => self.timers.cancel(id),
        }
    }

    /// Deletes an abandoned allocation (Refresh with lifetime 0) and forgets it once settled.
    fn reap(&mut self, id: AllocId, now: Instant, rng: &mut impl Rng) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.owner.is_some() {
            return;
        }
        match entry.turn.state() {
            AllocationState::Allocating => return,
            AllocationState::Allocated { .. } if !entry.deleting => {
                entry.deleting = true;
                let contents = entry.turn.refresh(Duration::ZERO, now, rng);
                self.transmits.push_back(AllocTransmit {
                    local: entry.local,
                    server: entry.turn.server(),
                    contents,
                    retransmission: false,
                });
                self.schedule(id);
                return;
            }
            AllocationState::Allocated { .. } if entry.turn.poll_timeout().is_some() => return,
            _ => {}
        }
        let entry = self
            .entries
            .remove(&id)
            .expect("looked up at the start of reap");
        self.timers.cancel(id);
        self.by_local.remove(&entry.local);
        let rtp = SocketAddr::new(entry.local.ip(), entry.local.port() & !1);
        let rtcp = SocketAddr::new(rtp.ip(), rtp.port() | 1);
        if !self.by_local.contains_key(&rtp) && !self.by_local.contains_key(&rtcp) {
            self.freed.push_back(rtp);
        }
    }
}
