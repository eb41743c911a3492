//! The simulator's media plane: what the runner's relay does for anchored calls, in virtual
//! time. It follows the engine's [`Event::MediaStream`] and [`Event::MediaStreamClosed`],
//! forwards RTP and RTCP arriving on a leg's ports to the same stream on the other leg,
//! unprotecting with the peer's key and protecting with TwoLeg's own per leg, and reports each
//! leg's counters back to the engine ([`MediaReport`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use twoleg_core::Event;
use twoleg_core::media::{MediaCounters, MediaReport, MediaStream};
use twoleg_core::srtp::{Context, Error as SrtpError, MasterKey};
use twoleg_core::status::Side;

/// One leg of one anchored stream.
#[derive(Debug)]
struct RelayLeg {
    tag: String,
    side: Side,
    stream: u32,
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    /// The keys the contexts were made from, to keep them while the keys stay (RFC 4568
    /// §7.1.4).
    keys: Option<(MasterKey, MasterKey)>,
    send: Option<Context>,
    receive: Option<Context>,
    counters: MediaCounters,
    /// The highest RTP sequence number received, for counting gaps.
    last_seq: Option<u16>,
}

/// A packet the relay sends on, and what it is.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) contents: Vec<u8>,
    pub(crate) note: String,
}

/// Every anchored stream leg, by TwoLeg's RTP address on it.
#[derive(Debug, Default)]
pub(crate) struct MediaRelay {
    legs: BTreeMap<SocketAddr, RelayLeg>,
}

impl MediaRelay {
    /// Follows an engine event.
    pub(crate) fn handle_event(&mut self, event: &Event) {
        match event {
            Event::MediaStream(stream) => self.open(stream),
            Event::MediaStreamClosed { local_rtp, .. } => {
                self.legs.remove(local_rtp);
            }
            _ => {}
        }
    }

    fn open(&mut self, stream: &MediaStream) {
        let keys = stream
            .srtp
            .as_ref()
            .map(|keys| (keys.send.clone(), keys.receive.clone()));
        let leg = self
            .legs
            .entry(stream.local_rtp)
            .or_insert_with(|| RelayLeg {
                tag: stream.tag.clone(),
                side: stream.side,
                stream: stream.stream,
                remote_rtp: None,
                remote_rtcp: None,
                keys: None,
                send: None,
                receive: None,
                counters: MediaCounters::default(),
                last_seq: None,
            });
        leg.remote_rtp = stream.remote_rtp;
        leg.remote_rtcp = stream.remote_rtcp;
        if leg.keys != keys {
            leg.send = keys.as_ref().map(|(send, _)| Context::new(send));
            leg.receive = keys.as_ref().map(|(_, receive)| Context::new(receive));
            leg.keys = keys;
        }
    }

    /// Whether `address` is an RTP or RTCP port of an anchored leg.
    pub(crate) fn owns(&self, address: SocketAddr) -> bool {
        self.legs.contains_key(&rtp_of(address))
    }

    /// A packet arrived at `to`: what goes on to the other leg (if anything), and the reports
    /// of the legs whose counters moved.
    pub(crate) fn handle_packet(
        &mut self,
        to: SocketAddr,
        contents: &[u8],
    ) -> (Option<Forward>, Vec<MediaReport>) {
        let local = rtp_of(to);
        let rtcp = to.port() % 2 == 1;
        let Some(leg) = self.legs.get_mut(&local) else {
            return (None, Vec::new());
        };
        let clear = match (leg.receive.as_mut(), rtcp) {
            (Some(context), false) => context.unprotect_rtp(contents),
            (Some(context), true) => context.unprotect_rtcp(contents),
            (None, _) => check_clear(contents),
        };
        let clear = match clear {
            Ok(clear) => clear,
            Err(SrtpError::Replayed { .. } | SrtpError::TooOld { .. }) => {
                leg.counters.replays += 1;
                return (None, vec![report(leg)]);
            }
            Err(_) => {
                leg.counters.auth_failures += 1;
                return (None, vec![report(leg)]);
            }
        };
        leg.counters.packets_received += 1;
        leg.counters.bytes_received += contents.len() as u64;
        if !rtcp && clear.len() >= 4 {
            let seq = u16::from_be_bytes([clear[2], clear[3]]);
            if let Some(last) = leg.last_seq {
                let ahead = seq.wrapping_sub(last);
                if ahead > 1 && ahead < 0x8000 {
                    leg.counters.lost += u64::from(ahead - 1);
                }
                if ahead < 0x8000 {
                    leg.last_seq = Some(seq);
                }
            } else {
                leg.last_seq = Some(seq);
            }
        }
        let (tag, stream, side) = (leg.tag.clone(), leg.stream, leg.side);
        let mut reports = vec![report(leg)];
        let Some((&other_local, other)) = self
            .legs
            .iter_mut()
            .find(|(_, o)| o.tag == tag && o.stream == stream && o.side == side.other())
        else {
            return (None, reports);
        };
        let destination = if rtcp {
            other.remote_rtcp
        } else {
            other.remote_rtp
        };
        let Some(destination) = destination else {
            return (None, reports);
        };
        let protected = match (other.send.as_mut(), rtcp) {
            (Some(context), false) => context.protect_rtp(&clear),
            (Some(context), true) => context.protect_rtcp(&clear),
            (None, _) => Ok(clear.clone()),
        };
        let Ok(out) = protected else {
            return (None, reports);
        };
        other.counters.packets_sent += 1;
        other.counters.bytes_sent += out.len() as u64;
        let kind = match (rtcp, other.send.is_some()) {
            (false, true) => "SRTP",
            (true, true) => "SRTCP",
            (false, false) => "RTP",
            (true, false) => "RTCP",
        };
        let mut note = kind.to_owned();
        if !rtcp && clear.len() >= 4 {
            let seq = u16::from_be_bytes([clear[2], clear[3]]);
            note.push_str(&format!(" seq={seq}"));
        }
        if let Some(context) = other.send.as_ref() {
            note.push_str(&format!(" ({})", context.suite().name()));
        }
        reports.push(report(other));
        let from = if rtcp {
            SocketAddr::new(other_local.ip(), other_local.port() + 1)
        } else {
            other_local
        };
        (
            Some(Forward {
                from,
                to: destination,
                contents: out,
                note,
            }),
            reports,
        )
    }

    /// Legs open (every port pair the relay serves).
    pub(crate) fn len(&self) -> usize {
        self.legs.len()
    }
}

fn rtp_of(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip(), address.port() & !1)
}

/// A clear leg takes RTP version 2 only.
fn check_clear(contents: &[u8]) -> Result<Vec<u8>, SrtpError> {
    if contents.len() < 8 || contents[0] >> 6 != 2 {
        return Err(SrtpError::Malformed);
    }
    Ok(contents.to_vec())
}

fn report(leg: &RelayLeg) -> MediaReport {
    MediaReport {
        tag: leg.tag.clone(),
        side: leg.side,
        stream: leg.stream,
        counters: leg.counters,
    }
}
