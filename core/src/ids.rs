//! Identifiers drawn from the engine's seeded RNG: branches, tags, Call-IDs, call tags.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::sip::MAGIC_COOKIE;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `len` random characters from `[0-9a-z]`.
pub fn token(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A Via branch: the RFC 3261 magic cookie and 16 random characters.
pub fn branch(rng: &mut ChaCha8Rng) -> String {
    format!("{MAGIC_COOKIE}{}", token(rng, 16))
}

/// A From or To tag.
pub fn tag(rng: &mut ChaCha8Rng) -> String {
    token(rng, 12)
}

/// A Call-ID for a leg TwoLeg originates.
pub fn call_id(rng: &mut ChaCha8Rng, host: &str) -> String {
    format!("{}@{host}", token(rng, 20))
}

/// A call tag shared by both legs of one call, shaped like Expressway's (a UUID).
pub fn call_tag(rng: &mut ChaCha8Rng) -> String {
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
pub fn first_cseq(rng: &mut ChaCha8Rng) -> u32 {
    rng.random_range(1..=30_000)
}
