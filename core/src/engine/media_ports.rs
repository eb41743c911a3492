//! The media port range: TwoLeg's even/odd port pairs for TURN allocations (and, later, anchored
//! media), handed out next-fit from a seeded place.

use std::collections::BTreeSet;

/// The media port range: RTP on an even port, RTCP on the next one, handed out next-fit so a
/// pair just freed is not reused at once.
#[derive(Debug)]
pub(crate) struct MediaPorts {
    /// Even RTP ports whose RTCP port is in the range too.
    pairs: Vec<u16>,
    next: usize,
    used: BTreeSet<u16>,
}

impl MediaPorts {
    /// The pairs of the range, handed out from a place drawn from `seed`: a fresh engine (after
    /// a restart or a trapped instance) does not reuse the ports of allocations an earlier one
    /// may have left on the TURN servers.
    pub(crate) fn new((first, last): (u16, u16), seed: u64) -> Self {
        let (first, last) = (u32::from(first), u32::from(last));
        let pairs: Vec<u16> = (first + first % 2..last)
            .step_by(2)
            .filter_map(|port| u16::try_from(port).ok())
            .collect();
        let next = match pairs.len() {
            0 => 0,
            len => (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) as usize % len,
        };
        Self {
            pairs,
            next,
            used: BTreeSet::new(),
        }
    }

    /// The pairs of `range` outside `excluded` (another pool's range), as [`MediaPorts::new`].
    pub(crate) fn excluding(range: (u16, u16), excluded: (u16, u16), seed: u64) -> Self {
        let mut ports = Self::new(range, seed);
        ports
            .pairs
            .retain(|port| *port + 1 < excluded.0 || *port > excluded.1);
        ports.next = match ports.pairs.len() {
            0 => 0,
            len => ports.next % len,
        };
        ports
    }

    /// Pairs handed out and not yet released.
    pub(crate) fn in_use(&self) -> usize {
        self.used.len()
    }

    /// A free RTP port whose RTCP port is free too.
    pub(crate) fn take(&mut self) -> Option<u16> {
        for _ in 0..self.pairs.len() {
            let port = self.pairs[self.next];
            self.next = (self.next + 1) % self.pairs.len();
            if !self.used.contains(&port) {
                self.used.insert(port);
                return Some(port);
            }
        }
        None
    }

    /// Frees a port (the RTP port of a pair frees the pair; an RTCP port is ignored).
    pub(crate) fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::MediaPorts;

    #[test]
    fn media_ports_come_in_even_odd_pairs_inside_the_range() {
        let mut ports = MediaPorts::new((56_001, 56_006), 0);
        assert_eq!(ports.take(), Some(56_002));
        assert_eq!(ports.take(), Some(56_004));
        assert_eq!(ports.take(), None, "56006 has no RTCP port in the range");
        ports.release(56_002);
        assert_eq!(ports.take(), Some(56_002));
        let mut edge = MediaPorts::new((65_534, 65_535), 7);
        assert_eq!(edge.take(), Some(65_534));
        assert_eq!(edge.take(), None);
        assert_eq!(MediaPorts::new((65_535, 65_535), 7).take(), None);
        assert_eq!(MediaPorts::new((1, 1), 7).take(), None);
    }
}
