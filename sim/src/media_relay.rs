//! The simulator's media plane: what the runner's relay does for anchored calls, in virtual
//! time, with the same per-line relay ([`MediaLine`]). It follows the engine's
//! [`Event::MediaStream`] and [`Event::MediaStreamClosed`], hands RTP and RTCP arriving on a
//! leg's ports to the line, sends on what it forwards from TwoLeg's ports on the other leg, and
//! reports each leg's counters back to the engine ([`MediaReport`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use twoleg_core::Event;
use twoleg_core::media::relay::{Arrival, MediaLine};
use twoleg_core::media::{MediaReport, MediaStream};
use twoleg_core::status::Side;

/// A packet the relay sends on, and what it is.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) contents: Vec<u8>,
    pub(crate) note: String,
}

/// Which line and leg a port pair belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LegOf {
    tag: String,
    stream: u32,
    side: Side,
}

/// One anchored media line and TwoLeg's RTP address on each of its legs.
#[derive(Default)]
struct Line {
    relay: MediaLine,
    local: [Option<SocketAddr>; 2],
}

/// Every anchored media line, and its legs by TwoLeg's RTP address on them.
#[derive(Default)]
pub(crate) struct MediaRelay {
    legs: BTreeMap<SocketAddr, LegOf>,
    lines: BTreeMap<(String, u32), Line>,
}

impl std::fmt::Debug for MediaRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRelay")
            .field("legs", &self.legs)
            .finish_non_exhaustive()
    }
}

impl MediaRelay {
    /// Follows an engine event.
    pub(crate) fn handle_event(&mut self, event: &Event) {
        match event {
            Event::MediaStream(stream) => self.open(stream),
            Event::MediaStreamClosed {
                tag,
                side,
                stream,
                local_rtp,
            } => {
                self.legs.remove(local_rtp);
                let key = (tag.clone(), *stream);
                if let Some(line) = self.lines.get_mut(&key) {
                    line.local[side.index()] = None;
                    if line.local == [None, None] {
                        self.lines.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, stream: &MediaStream) {
        let leg = LegOf {
            tag: stream.tag.clone(),
            stream: stream.stream,
            side: stream.side,
        };
        self.legs.insert(stream.local_rtp, leg);
        let line = self
            .lines
            .entry((stream.tag.clone(), stream.stream))
            .or_default();
        line.local[stream.side.index()] = Some(stream.local_rtp);
        let remote = [stream.remote_rtp, stream.remote_rtcp];
        line.relay.set_leg(stream.side, remote, stream.srtp.clone());
    }

    /// Whether `address` is an RTP or RTCP port of an anchored leg.
    pub(crate) fn owns(&self, address: SocketAddr) -> bool {
        self.legs.contains_key(&rtp_of(address))
    }

    /// A packet from `from` arrived at `to`: what goes on to the other leg (if anything), and
    /// the reports of the line's legs.
    pub(crate) fn handle_packet(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        contents: &[u8],
    ) -> (Option<Forward>, Vec<MediaReport>) {
        let Some(leg) = self.legs.get(&rtp_of(to)) else {
            return (None, Vec::new());
        };
        let Some(line) = self.lines.get_mut(&(leg.tag.clone(), leg.stream)) else {
            return (None, Vec::new());
        };
        let arrival = Arrival::direct(from, to.port() % 2 == 1);
        let forwarded = line.relay.handle_packet(leg.side, arrival, contents);
        let reports = [leg.side, leg.side.other()]
            .map(|side| MediaReport {
                tag: leg.tag.clone(),
                side,
                stream: leg.stream,
                counters: line.relay.counters(side),
            })
            .to_vec();
        let (Ok(forward), Some(local)) = (forwarded, line.local[leg.side.other().index()]) else {
            return (None, reports);
        };
        let kind = match (forward.rtcp, forward.suite.is_some()) {
            (false, true) => "SRTP",
            (true, true) => "SRTCP",
            (false, false) => "RTP",
            (true, false) => "RTCP",
        };
        let mut note = kind.to_owned();
        if !forward.rtcp {
            let seq = u16::from_be_bytes([forward.contents[2], forward.contents[3]]);
            note.push_str(&format!(" seq={seq}"));
        }
        if let Some(suite) = forward.suite {
            note.push_str(&format!(" ({})", suite.name()));
        }
        let from = SocketAddr::new(local.ip(), local.port() + u16::from(forward.rtcp));
        let forward = Forward {
            from,
            to: forward.route.address,
            contents: forward.contents,
            note,
        };
        (Some(forward), reports)
    }

    /// Legs open (every port pair the relay serves).
    pub(crate) fn len(&self) -> usize {
        self.legs.len()
    }
}

fn rtp_of(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip(), address.port() & !1)
}
