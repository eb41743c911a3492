//! The replay window (RFC 3711 §3.3.2): the highest index accepted and a bitmap of the 127
//! before it.

use crate::Error;

/// Indexes behind the highest one still told apart.
const WINDOW: u64 = 128;

/// What one SSRC has authenticated so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplayWindow {
    /// The highest index accepted.
    top: u64,
    /// Bit `n`: index `top - n` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window whose first accepted index is `index`.
    pub(crate) fn new(index: u64) -> Self {
        Self {
            top: index,
            seen: 1,
        }
    }

    /// The highest index accepted.
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    /// Whether `index` may still be accepted.
    pub(crate) fn check(&self, index: u64) -> Result<(), Error> {
        if index > self.top {
            return Ok(());
        }
        let behind = self.top - index;
        if behind >= WINDOW {
            return Err(Error::TooOld { index });
        }
        if self.seen & (1 << behind) != 0 {
            return Err(Error::Replayed { index });
        }
        Ok(())
    }

    /// Records `index` as accepted (after [`check`](Self::check) and authentication).
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.top {
            let ahead = index - self.top;
            self.seen = if ahead >= WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.top = index;
        } else {
            self.seen |= 1 << (self.top - index);
        }
    }
}

/// The packet index of an RTP sequence number (RFC 3711 §3.3.1), given the highest index seen
/// for its SSRC: the rollover counter that puts it closest. `None` when it would fall before
/// index 0.
pub(crate) fn estimate_index(top: u64, seq: u16) -> Option<u64> {
    let roc = top >> 16;
    let s_l = top & 0xffff;
    let seq = u64::from(seq);
    let v = if s_l < 32_768 {
        if seq > s_l && seq - s_l > 32_768 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - 32_768 > seq {
        roc + 1
    } else {
        roc
    };
    Some((v << 16) | seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_refuses_repeats_and_the_too_old() {
        let mut window = ReplayWindow::new(1_000);
        assert_eq!(window.check(1_000), Err(Error::Replayed { index: 1_000 }));
        assert_eq!(window.check(999), Ok(()), "late but new");
        window.accept(999);
        assert_eq!(window.check(999), Err(Error::Replayed { index: 999 }));
        window.accept(1_200);
        assert_eq!(window.check(1_000), Err(Error::TooOld { index: 1_000 }));
        assert_eq!(window.check(1_073), Ok(()));
        assert_eq!(window.check(1_072), Err(Error::TooOld { index: 1_072 }));
        assert_eq!(window.top(), 1_200);
    }

    #[test]
    fn indexes_roll_over_both_ways() {
        assert_eq!(estimate_index(65_535, 0), Some(65_536));
        assert_eq!(estimate_index(65_536 + 3, 65_534), Some(65_534));
        assert_eq!(estimate_index(10, 65_000), None, "before the first packet");
        assert_eq!(estimate_index(40_000, 100), Some(65_536 + 100));
        assert_eq!(estimate_index(40_000, 8_000), Some(8_000), "late, same ROC");
        assert_eq!(estimate_index(5 << 16 | 100, 200), Some(5 << 16 | 200));
    }
}
