//! One table of every pending deadline, ordered by time: the engine keeps one, and so do the
//! simulator's scripted agents.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Instant;

/// Deadlines keyed by what they belong to; each key has at most one.
#[derive(Debug)]
pub struct Scheduler<K: Ord + Copy> {
    by_key: BTreeMap<K, Instant>,
    by_time: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Copy> Default for Scheduler<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy> Scheduler<K> {
    /// No deadlines.
    pub fn new() -> Self {
        Self {
            by_key: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Sets (or moves) the deadline of `key`.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Removes the deadline of `key`, if any.
    pub fn cancel(&mut self, key: K) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes the earliest key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// Whether `key` has a deadline.
    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    /// How many deadlines are pending.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_moves_deadlines() {
        let mut scheduler = Scheduler::new();
        scheduler.set(1, Instant::from_millis(30));
        scheduler.set(2, Instant::from_millis(10));
        scheduler.set(1, Instant::from_millis(5));
        scheduler.cancel(3);
        assert_eq!(scheduler.next(), Some(Instant::from_millis(5)));
        assert_eq!(scheduler.pop_due(Instant::from_millis(20)), Some(1));
        assert_eq!(scheduler.pop_due(Instant::from_millis(20)), Some(2));
        assert_eq!(scheduler.pop_due(Instant::from_millis(20)), None);
        assert_eq!(scheduler.len(), 0);
    }
}
