//! Transactions past their last message, kept 64·T1 only to absorb or re-answer
//! retransmissions (RFC 3261 §17.2.2 Timer J, RFC 6026 Timers L and M).
//!
//! Under load they are most of what an engine holds: every call leaves its INVITE server
//! transaction (Accepted), its INVITE client transaction (Accepted) and the BYE's server
//! transaction (Completed) for 32 s, and the BYE's client transaction (Completed) for 5 s. So
//! once a transaction reaches one of those states it leaves the transaction table for this
//! compact form: its key, what it still does, and its expiry in a queue. Every entry of a
//! queue lasts as long from the moment it enters, so each queue is in expiry order and needs no
//! timer of its own per entry.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::Owner;
use crate::hop::Hop;
use crate::sip::StatusCode;
use crate::time::Instant;
use crate::transaction::{MergeKey, TxKey};

/// What a lingering transaction still does.
#[derive(Debug)]
pub(crate) enum Linger {
    /// An INVITE server transaction that sent a 2xx (Accepted): a retransmitted INVITE is
    /// absorbed, a CANCEL answered 200, and a copy that arrives another way is a merged request.
    AnsweredInvite {
        /// Its entry in the merged-request index.
        merge_key: Option<Box<MergeKey>>,
    },
    /// A non-INVITE server transaction that sent its final response (Completed): a retransmitted
    /// request gets the response again.
    Answered(Box<Answered>),
    /// An INVITE client transaction that received a 2xx (Accepted): a retransmitted or forked
    /// 2xx still goes to its owner, to be ACKed.
    AcceptedInvite(Box<AcceptedInvite>),
    /// A non-INVITE client transaction that received its final response (Completed, Timer K,
    /// T4): retransmitted responses are absorbed.
    Absorbed,
}

/// The final response of a lingering non-INVITE server transaction, and where it goes.
#[derive(Debug)]
pub(crate) struct Answered {
    pub(crate) hop: Hop,
    pub(crate) response: Kept,
}

/// A final response kept for retransmissions.
#[derive(Debug)]
pub(crate) enum Kept {
    /// As sent.
    Bytes(Box<[u8]>),
    /// Only what it added to its request: a response with the mandatory headers alone (the
    /// 200 to a BYE, most refusals) is written again from the retransmitted request, which
    /// carries the same Via, From, To, Call-ID and CSeq. A few bytes instead of a few hundred,
    /// for every BYE of every call, for 32 s.
    Plain {
        status: StatusCode,
        /// The To tag the response carried.
        to_tag: Option<Box<str>>,
    },
}

/// Where a lingering INVITE client transaction's retransmitted 2xx goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AcceptedInvite {
    pub(crate) owner: Owner,
    pub(crate) hop: Hop,
}

#[derive(Debug)]
struct Entry {
    until: Instant,
    key: TxKey,
    linger: Linger,
}

/// Lingering transactions of one duration, in expiry order.
#[derive(Debug, Default)]
struct Queue {
    entries: VecDeque<Entry>,
    /// Sequence number of the front entry.
    first: u64,
}

/// The lingering transactions, in expiry order, with an index by key: one queue for those that
/// linger 64·T1 (Timers J, L, M) and one for those that linger T4 (Timer K), each in expiry
/// order since every entry of a queue lasts as long.
#[derive(Debug)]
pub(crate) struct Lingering {
    queues: [Queue; 2],
    /// Where each lingering key is (its queue in the top bit, its sequence number below), by
    /// the key's hash (seeded from the engine's seed, never iterated). The key itself is kept
    /// once, in the queue, and compared on every lookup; should two lingering keys' hashes
    /// collide, the newer one keeps the slot and the older is forgotten early, which costs at
    /// most one retransmission handled as new.
    index: HashMap<u64, u64, BuildHasherDefault<HashIsKey>>,
    hasher: foldhash::fast::FixedState,
}

/// The top bit of an index value: the T4 queue.
const SHORT: u64 = 1 << 63;

/// The index's keys are hashes already.
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("the lingering index hashes only u64 keys");
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

impl Lingering {
    /// No lingering transaction; keys hashed with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            queues: Default::default(),
            index: HashMap::default(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
        }
    }

    /// A transaction lingers until `until`, which is never before the expiry of one that
    /// lingers already in the same queue (they all last as long).
    pub(crate) fn push(&mut self, key: TxKey, until: Instant, linger: Linger) {
        let short = matches!(linger, Linger::Absorbed);
        let queue = &mut self.queues[usize::from(short)];
        debug_assert!(
            queue.entries.back().is_none_or(|last| last.until <= until),
            "the transactions of one queue all linger as long"
        );
        let sequence = queue.first + queue.entries.len() as u64;
        let place = if short { sequence | SHORT } else { sequence };
        self.index.insert(self.hasher.hash_one(&key), place);
        queue.entries.push_back(Entry { until, key, linger });
    }

    /// What the transaction with this key still does, if it lingers.
    pub(crate) fn get(&self, key: &TxKey) -> Option<&Linger> {
        let place = self.index.get(&self.hasher.hash_one(key))?;
        let queue = &self.queues[usize::from(place & SHORT != 0)];
        let entry = &queue.entries[((place & !SHORT) - queue.first) as usize];
        (entry.key == *key).then_some(&entry.linger)
    }

    /// When the next one expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.queues
            .iter()
            .filter_map(|queue| queue.entries.front().map(|entry| entry.until))
            .min()
    }

    /// Takes the next one that has expired by `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Linger> {
        let short = self
            .queues
            .iter()
            .map(|queue| queue.entries.front().map(|entry| entry.until))
            .enumerate()
            .filter_map(|(index, until)| until.filter(|until| *until <= now).map(|u| (u, index)))
            .min()?
            .1;
        let queue = &mut self.queues[short];
        let entry = queue.entries.pop_front().expect("its front expired");
        let place = if short == 1 {
            queue.first | SHORT
        } else {
            queue.first
        };
        queue.first += 1;
        // A later transaction with the same key (a request that reused a branch) may own the
        // index entry now; then leave it.
        let hash = self.hasher.hash_one(&entry.key);
        if self.index.get(&hash) == Some(&place) {
            self.index.remove(&hash);
        }
        Some(entry.linger)
    }

    /// How many lingering transactions have a key like this.
    pub(crate) fn count(&self, like: impl Fn(&TxKey) -> bool) -> usize {
        self.queues
            .iter()
            .map(|queue| {
                queue
                    .entries
                    .iter()
                    .filter(|entry| like(&entry.key))
                    .count()
            })
            .sum()
    }

    /// How many linger.
    pub(crate) fn len(&self) -> usize {
        self.queues.iter().map(|queue| queue.entries.len()).sum()
    }
}
