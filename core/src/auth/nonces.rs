//! Nonces without a table of their own: a nonce is the time it was issued and an HMAC of that
//! time under a secret, so TwoLeg can tell its own nonces and their age from the nonce alone,
//! and a flood of unanswered challenges stores nothing. What is stored is the highest nonce
//! count accepted with each nonce used within its lifetime (RFC 7616 §3.4.5): a captured
//! request sent again is refused. That table is bounded: when it is full of live nonces, a new
//! one is not accepted (its client is challenged again with `stale=true`), so no replay can
//! slip through an eviction.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::constant_time_eq;
use crate::time::Instant;

/// Nonces in use remembered at most.
const MAX_USED: usize = 65_536;

/// The nonce secret and the counts of nonces in use.
#[derive(Default)]
pub(crate) struct Nonces {
    /// Drawn at the first challenge (from the engine's key RNG, which the runner seeds from
    /// the OS).
    secret: Option<[u8; 32]>,
    used: BTreeMap<String, u32>,
    order: VecDeque<(Instant, String)>,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("used", &self.used.len())
            .finish_non_exhaustive()
    }
}

/// What a nonce is worth now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceState {
    /// TwoLeg's, live, and this count is above every one accepted with it.
    Fresh,
    /// Live, but this count was accepted already (or a higher one).
    Replayed,
    /// TwoLeg's, but past its lifetime (or TwoLeg cannot take one more nonce in use now).
    Stale,
    /// Not one TwoLeg issued under its current secret.
    Unknown,
}

impl Nonces {
    /// A new nonce: the time in nanoseconds and 64 random bits (so that two challenges at one
    /// instant differ), then 128 bits of HMAC-SHA-256 over both, hex.
    pub(crate) fn issue(
        &mut self,
        now: Instant,
        salt: u64,
        secret: impl FnOnce() -> [u8; 32],
    ) -> String {
        let secret = *self.secret.get_or_insert_with(secret);
        let stamp = format!("{:016x}{salt:016x}", now.as_nanos());
        format!("{stamp}{}", mac(&secret, &stamp))
    }

    /// What `nonce` with count `count` is worth (nothing is recorded).
    pub(crate) fn state(
        &self,
        nonce: &str,
        count: u32,
        now: Instant,
        lifetime: Duration,
    ) -> NonceState {
        let Some(secret) = &self.secret else {
            return NonceState::Unknown;
        };
        let (Some(stamp), Some(tag)) = (nonce.get(..32), nonce.get(32..)) else {
            return NonceState::Unknown;
        };
        if !constant_time_eq(mac(secret, stamp).as_bytes(), tag.as_bytes()) {
            return NonceState::Unknown;
        }
        let Ok(issued) = u64::from_str_radix(&stamp[..16], 16) else {
            return NonceState::Unknown;
        };
        if now.as_nanos().saturating_sub(issued) > lifetime.as_nanos() as u64 {
            return NonceState::Stale;
        }
        match self.used.get(nonce) {
            Some(last) if count <= *last => NonceState::Replayed,
            Some(_) => NonceState::Fresh,
            None if self.used.len() >= MAX_USED => NonceState::Stale,
            None if count == 0 => NonceState::Replayed,
            None => NonceState::Fresh,
        }
    }

    /// A request with `nonce` and `count` was accepted: that count is used up. Nonces past
    /// their lifetime are forgotten first (their requests are stale whatever their count).
    pub(crate) fn accept(&mut self, nonce: &str, count: u32, now: Instant, lifetime: Duration) {
        while let Some((at, oldest)) = self.order.front() {
            if now.saturating_since(*at) <= lifetime {
                break;
            }
            self.used.remove(oldest);
            self.order.pop_front();
        }
        match self.used.get_mut(nonce) {
            Some(last) => *last = (*last).max(count),
            None => {
                self.used.insert(nonce.to_owned(), count);
                self.order.push_back((now, nonce.to_owned()));
            }
        }
    }
}

/// 128 bits of HMAC-SHA-256 of `stamp` under `secret`, hex.
fn mac(secret: &[u8; 32], stamp: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(stamp.as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_rise_and_nonces_go_stale() {
        let mut nonces = Nonces::default();
        let lifetime = Duration::from_secs(60);
        let t0 = Instant::ZERO + Duration::from_secs(1);
        let nonce = nonces.issue(t0, 1, || [7; 32]);
        assert_eq!(nonce.len(), 64);
        assert_eq!(nonces.state(&nonce, 1, t0, lifetime), NonceState::Fresh);
        nonces.accept(&nonce, 1, t0, lifetime);
        assert_eq!(nonces.state(&nonce, 1, t0, lifetime), NonceState::Replayed);
        assert_eq!(nonces.state(&nonce, 2, t0, lifetime), NonceState::Fresh);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(nonces.state(&nonce, 2, later, lifetime), NonceState::Stale);
        assert_eq!(nonces.state("feed", 1, t0, lifetime), NonceState::Unknown);
        let mut forged = nonce.clone();
        forged.replace_range(..16, "0000000000000000");
        assert_eq!(nonces.state(&forged, 1, t0, lifetime), NonceState::Unknown);
        let other = nonces.issue(t0, 2, || [9; 32]);
        assert_ne!(other, nonce, "two challenges at one instant differ");
        assert_eq!(nonces.state(&other, 1, t0, lifetime), NonceState::Fresh);
    }

    #[test]
    fn unanswered_challenges_store_nothing() {
        let mut nonces = Nonces::default();
        for n in 0..10_000u64 {
            nonces.issue(Instant::ZERO + Duration::from_nanos(n), n, || [1; 32]);
        }
        assert!(nonces.used.is_empty());
    }
}
