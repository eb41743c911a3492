//! Identifiers drawn from the engine's seeded RNG: branches, tags, Call-IDs, call tags.

use rand::Rng;
use rand::rngs::StdRng;

use crate::sip::MAGIC_COOKIE;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

pub(crate) fn token(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A Via branch: the RFC 3261 magic cookie and 16 random characters.
pub(crate) fn branch(rng: &mut StdRng) -> String {
    format!("{MAGIC_COOKIE}{}", token(rng, 16))
}

/// A From or To tag.
pub(crate) fn tag(rng: &mut StdRng) -> String {
    token(rng, 12)
}

/// A Call-ID for a leg TwoLeg originates.
pub(crate) fn call_id(rng: &mut StdRng, host: &str) -> String {
    format!("{}@{host}", token(rng, 20))
}

/// A call tag shared by both legs of one call, shaped like Expressway's (a UUID).
pub(crate) fn call_tag(rng: &mut StdRng) -> String {
    let v: u128 = rng.random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A first CSeq number for a leg TwoLeg originates.
pub(crate) fn first_cseq(rng: &mut StdRng) -> u32 {
    rng.random_range(1..=30_000)
}
