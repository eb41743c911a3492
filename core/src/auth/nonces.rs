//! The nonces TwoLeg issued: each lives `nonce_lifetime_s`; each accepted request must carry a
//! nonce count above the last one accepted with that nonce (RFC 7616 §3.4.5), so a captured
//! request cannot be sent again. Nonces are drawn from the engine's seeded RNG, so runs are
//! deterministic; the table is bounded (the oldest are forgotten first).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::time::Instant;

/// Nonces remembered at most.
const MAX_NONCES: usize = 65_536;

/// How long an expired nonce is still recognised (to answer `stale=true`).
const STALE_GRACE: Duration = Duration::from_secs(300);

/// The issued nonces.
#[derive(Debug, Default)]
pub(crate) struct Nonces {
    issued: BTreeMap<String, Issued>,
    order: VecDeque<(Instant, String)>,
}

#[derive(Debug)]
struct Issued {
    at: Instant,
    /// The highest nonce count accepted with it.
    last_count: u32,
}

/// What a nonce is worth now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceState {
    /// Live, and this count is above every one accepted with it.
    Fresh,
    /// Live, but this count was accepted already (or a higher one).
    Replayed,
    /// Past its lifetime.
    Stale,
    /// Not one TwoLeg issued (or remembers).
    Unknown,
}

impl Nonces {
    /// A new nonce: 128 random bits, hex.
    pub(crate) fn issue(
        &mut self,
        now: Instant,
        lifetime: Duration,
        rng: &mut ChaCha8Rng,
    ) -> String {
        self.forget_old(now, lifetime);
        let nonce: String = (0..16)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        self.issued.insert(
            nonce.clone(),
            Issued {
                at: now,
                last_count: 0,
            },
        );
        self.order.push_back((now, nonce.clone()));
        while self.issued.len() > MAX_NONCES {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.issued.remove(&oldest);
            }
        }
        nonce
    }

    /// What `nonce` with count `count` is worth (nothing is recorded).
    pub(crate) fn state(
        &self,
        nonce: &str,
        count: u32,
        now: Instant,
        lifetime: Duration,
    ) -> NonceState {
        let Some(issued) = self.issued.get(nonce) else {
            return NonceState::Unknown;
        };
        if now.saturating_since(issued.at) > lifetime {
            return NonceState::Stale;
        }
        if count <= issued.last_count {
            return NonceState::Replayed;
        }
        NonceState::Fresh
    }

    /// A request with `nonce` and `count` was accepted: that count is used up.
    pub(crate) fn accept(&mut self, nonce: &str, count: u32) {
        if let Some(issued) = self.issued.get_mut(nonce) {
            issued.last_count = issued.last_count.max(count);
        }
    }

    fn forget_old(&mut self, now: Instant, lifetime: Duration) {
        while let Some((at, nonce)) = self.order.front() {
            if now.saturating_since(*at) <= lifetime + STALE_GRACE {
                break;
            }
            self.issued.remove(nonce);
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn counts_must_rise_and_nonces_go_stale() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut nonces = Nonces::default();
        let lifetime = Duration::from_secs(60);
        let t0 = Instant::ZERO;
        let nonce = nonces.issue(t0, lifetime, &mut rng);
        assert_eq!(nonce.len(), 32);
        assert_eq!(nonces.state(&nonce, 1, t0, lifetime), NonceState::Fresh);
        nonces.accept(&nonce, 1);
        assert_eq!(nonces.state(&nonce, 1, t0, lifetime), NonceState::Replayed);
        assert_eq!(nonces.state(&nonce, 2, t0, lifetime), NonceState::Fresh);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(nonces.state(&nonce, 2, later, lifetime), NonceState::Stale);
        assert_eq!(nonces.state("feed", 1, t0, lifetime), NonceState::Unknown);
        assert_ne!(nonces.issue(t0, lifetime, &mut rng), nonce);
    }
}
