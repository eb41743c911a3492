//! One anchored media line, both legs, without I/O: the per-packet work of every media plane
//! (the runner's native relay and the simulator's). A packet that arrived on one leg is checked,
//! unprotected with the peer's key, counted, protected with TwoLeg's own key on the other leg
//! (SRTP↔RTP, suite to suite, so no leg ever sees another leg's key) and handed back with where
//! it goes; the host sends it.
//!
//! Symmetric latching: a leg sends to where its peer's packets come from once one has arrived
//! (before that, to the address in the peer's SDP). On an SRTP leg only an authenticated packet
//! moves the latch; on a clear leg the first packet sets it and packets from anywhere else are
//! refused. A packet may arrive through a TURN relay (unwrapped from a Data indication by the
//! host): the latch then remembers the relay, and what goes back is sent through it.
//!
//! ```
//! use std::net::SocketAddr;
//! use twoleg_core::media::relay::{Arrival, MediaLine, Route};
//! use twoleg_core::status::Side;
//!
//! let callee: SocketAddr = "10.0.0.2:6000".parse().unwrap();
//! let mut line = MediaLine::default();
//! line.set_leg(Side::A, [Some("10.0.0.1:4000".parse().unwrap()), None], None);
//! line.set_leg(Side::B, [Some(callee), None], None);
//! let rtp = [0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
//! let arrival = Arrival::direct("10.0.0.1:4000".parse().unwrap(), false);
//! let forward = line.handle_packet(Side::A, arrival, &rtp).unwrap();
//! assert_eq!(forward.contents, rtp);
//! assert_eq!(forward.route, Route::direct(callee));
//! assert_eq!(line.counters(Side::B).packets_sent, 1);
//! ```

use std::net::SocketAddr;

use super::stream::{MediaCounters, SrtpKeys};
use crate::srtp::{Context, Error as SrtpError, Suite};
use crate::status::Side;

/// Where a leg's packets come from or go to: the peer's address, and the TURN server they
/// travel through when they are relayed (a Data indication in, a Send indication out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The peer's address (for a relayed packet, as the TURN server names it).
    pub address: SocketAddr,
    /// The TURN server the packet travels through; `None`: straight to or from the peer.
    pub relay: Option<SocketAddr>,
}

impl Route {
    /// Straight to or from `address`.
    pub fn direct(address: SocketAddr) -> Self {
        Self {
            address,
            relay: None,
        }
    }
}

/// How a packet arrived on a leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Where it came from.
    pub route: Route,
    /// It arrived on the leg's RTCP port (RTCP on the RTP port is recognised by its packet
    /// type, RFC 5761 §4).
    pub rtcp_port: bool,
}

impl Arrival {
    /// Straight from `source`, on the RTP port or the RTCP port.
    pub fn direct(source: SocketAddr, rtcp_port: bool) -> Self {
        Self {
            route: Route::direct(source),
            rtcp_port,
        }
    }
}

/// A packet to send on the other leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The packet, as that leg's peer takes it (protected when that leg is SRTP).
    pub contents: Vec<u8>,
    /// Where it goes.
    pub route: Route,
    /// RTCP: it leaves from TwoLeg's RTCP port on that leg.
    pub rtcp: bool,
    /// The SRTP suite it is protected with; `None`: clear.
    pub suite: Option<Suite>,
}

/// Why a packet was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Shorter than an RTP (12 bytes) or RTCP (8 bytes) header, or not RTP version 2.
    #[error("not an RTP or RTCP packet")]
    Malformed,
    /// A clear leg's packet from somewhere other than the latched address.
    #[error("from an address other than the latched one")]
    NotLatched,
    /// An SRTP or SRTCP packet that did not authenticate with the peer's key.
    #[error("failed SRTP authentication")]
    Authentication,
    /// An SRTP or SRTCP packet already received (or too old to tell).
    #[error("an SRTP replay")]
    Replayed,
    /// The other leg has no peer address yet (its SDP has not arrived).
    #[error("the other leg has no peer address yet")]
    NoDestination,
    /// Protecting for the other leg failed (its key is spent).
    #[error("cannot protect for the other leg")]
    Protect,
}

/// One leg of the line.
#[derive(Default)]
struct Leg {
    /// From the peer's SDP (RTP, RTCP).
    remote: [Option<SocketAddr>; 2],
    /// Where the peer's packets come from (RTP, RTCP).
    latched: [Option<Route>; 2],
    /// The keys the contexts were made from: unchanged keys keep their contexts and replay
    /// state (RFC 4568 §7.1.4).
    keys: Option<SrtpKeys>,
    send: Option<Context>,
    receive: Option<Context>,
    counters: MediaCounters,
    last_seq: Option<u16>,
}

impl Leg {
    fn destination(&self, rtcp: bool) -> Option<Route> {
        let kind = usize::from(rtcp);
        self.latched[kind].or_else(|| self.remote[kind].map(Route::direct))
    }

    /// Counts RTP sequence gaps (lost packets); reordered and repeated ones count nothing.
    fn count_sequence(&mut self, seq: u16) {
        let Some(last) = self.last_seq else {
            self.last_seq = Some(seq);
            return;
        };
        let ahead = seq.wrapping_sub(last);
        if ahead < 0x8000 {
            self.counters.lost += u64::from(ahead.saturating_sub(1));
            self.last_seq = Some(seq);
        }
    }
}

/// One anchored media line: leg A and leg B of the same stream.
#[derive(Default)]
pub struct MediaLine {
    legs: [Leg; 2],
}

impl MediaLine {
    /// The engine described a leg (a [`super::MediaStream`]): its peer's RTP and RTCP addresses
    /// and its keys (`None`: clear RTP). A new peer address is latched anew; new keys make new
    /// contexts, unchanged ones keep theirs.
    pub fn set_leg(&mut self, side: Side, remote: [Option<SocketAddr>; 2], keys: Option<SrtpKeys>) {
        let leg = &mut self.legs[side.index()];
        if leg.remote != remote {
            leg.remote = remote;
            leg.latched = [None, None];
        }
        if leg.keys != keys {
            leg.send = keys.as_ref().map(|keys| Context::new(&keys.send));
            leg.receive = keys.as_ref().map(|keys| Context::new(&keys.receive));
            leg.keys = keys;
        }
    }

    /// A leg's counters since it opened.
    pub fn counters(&self, side: Side) -> MediaCounters {
        self.legs[side.index()].counters
    }

    /// A packet arrived on leg `side`: what goes out on the other leg, and where, or why
    /// nothing does. Counted on both legs either way.
    pub fn handle_packet(
        &mut self,
        side: Side,
        arrival: Arrival,
        packet: &[u8],
    ) -> Result<Forward, Refused> {
        let rtcp =
            arrival.rtcp_port || packet.get(1).is_some_and(|kind| (192..=223).contains(kind));
        let kind = usize::from(rtcp);
        let minimum = if rtcp { 8 } else { 12 };
        if packet.len() < minimum || packet[0] >> 6 != 2 {
            return Err(Refused::Malformed);
        }
        let leg = &mut self.legs[side.index()];
        let clear = match leg.receive.as_mut() {
            Some(context) => {
                let result = if rtcp {
                    context.unprotect_rtcp(packet)
                } else {
                    context.unprotect_rtp(packet)
                };
                match result {
                    Ok(clear) => clear,
                    Err(SrtpError::Replayed { .. } | SrtpError::TooOld { .. }) => {
                        leg.counters.replays += 1;
                        return Err(Refused::Replayed);
                    }
                    Err(_) => {
                        leg.counters.auth_failures += 1;
                        return Err(Refused::Authentication);
                    }
                }
            }
            None => {
                if leg.latched[kind].is_some_and(|latched| latched != arrival.route) {
                    return Err(Refused::NotLatched);
                }
                packet.to_vec()
            }
        };
        leg.latched[kind] = Some(arrival.route);
        leg.counters.packets_received += 1;
        leg.counters.bytes_received += packet.len() as u64;
        if !rtcp {
            leg.count_sequence(u16::from_be_bytes([clear[2], clear[3]]));
        }
        let other = &mut self.legs[side.other().index()];
        let route = other.destination(rtcp).ok_or(Refused::NoDestination)?;
        let contents = match other.send.as_mut() {
            Some(context) if rtcp => context.protect_rtcp(&clear),
            Some(context) => context.protect_rtp(&clear),
            None => Ok(clear),
        }
        .map_err(|_| Refused::Protect)?;
        other.counters.packets_sent += 1;
        other.counters.bytes_sent += contents.len() as u64;
        Ok(Forward {
            contents,
            route,
            rtcp,
            suite: other.send.as_ref().map(Context::suite),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::MasterKey;

    fn key(byte: u8) -> MasterKey {
        MasterKey::new(Suite::AesCm128HmacSha1_80, vec![byte; 30], None).unwrap()
    }

    fn keys(send: u8, receive: u8) -> Option<SrtpKeys> {
        Some(SrtpKeys {
            send: key(send),
            receive: key(receive),
        })
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet.resize(172, 0xd5);
        packet
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn from(text: &str) -> Arrival {
        Arrival::direct(address(text), false)
    }

    /// Leg A SRTP (TwoLeg sends with key 1, the caller with key 2), leg B clear.
    fn line() -> MediaLine {
        let mut line = MediaLine::default();
        let a = [
            Some(address("10.0.0.1:4000")),
            Some(address("10.0.0.1:4001")),
        ];
        line.set_leg(Side::A, a, keys(1, 2));
        let b = [
            Some(address("10.0.0.2:6000")),
            Some(address("10.0.0.2:6001")),
        ];
        line.set_leg(Side::B, b, None);
        line
    }

    #[test]
    fn srtp_from_the_caller_goes_on_clear_and_clear_from_the_callee_goes_back_encrypted() {
        let mut line = line();
        let sent = Context::new(&key(2)).protect_rtp(&rtp(1)).unwrap();
        let forward = line
            .handle_packet(Side::A, from("192.0.2.9:5555"), &sent)
            .unwrap();
        assert_eq!(forward.contents, rtp(1), "leg B gets the clear packet");
        assert_eq!(forward.route, Route::direct(address("10.0.0.2:6000")));
        assert_eq!(forward.suite, None);
        // The callee answers in clear; TwoLeg protects with its own key toward the caller's
        // latched address (not the one in its SDP).
        let forward = line
            .handle_packet(Side::B, from("10.0.0.2:6000"), &rtp(9))
            .unwrap();
        assert_eq!(forward.route, Route::direct(address("192.0.2.9:5555")));
        assert_eq!(forward.suite, Some(Suite::AesCm128HmacSha1_80));
        assert_eq!(
            Context::new(&key(1))
                .unprotect_rtp(&forward.contents)
                .unwrap(),
            rtp(9)
        );
        assert_eq!(line.counters(Side::A).packets_received, 1);
        assert_eq!(line.counters(Side::A).packets_sent, 1);
        assert_eq!(line.counters(Side::B).packets_received, 1);
    }

    #[test]
    fn forged_replayed_malformed_and_unlatched_packets_are_refused_and_counted() {
        let mut line = line();
        let stranger = from("203.0.113.5:1000");
        // Forged SRTP (another key) does not authenticate and does not move the latch.
        let forged = Context::new(&key(9)).protect_rtp(&rtp(1)).unwrap();
        assert_eq!(
            line.handle_packet(Side::A, stranger, &forged),
            Err(Refused::Authentication)
        );
        let genuine = Context::new(&key(2)).protect_rtp(&rtp(2)).unwrap();
        assert!(line.handle_packet(Side::A, stranger, &genuine).is_ok());
        assert_eq!(
            line.handle_packet(Side::A, stranger, &genuine),
            Err(Refused::Replayed)
        );
        let a = line.counters(Side::A);
        assert_eq!((a.auth_failures, a.replays, a.packets_received), (1, 1, 1));
        // Short, and another RTP version.
        assert_eq!(
            line.handle_packet(Side::B, stranger, &[0x80, 0, 1]),
            Err(Refused::Malformed)
        );
        assert_eq!(
            line.handle_packet(Side::B, stranger, &[0x40; 172]),
            Err(Refused::Malformed)
        );
        // The clear leg latches on its first packet; another source is refused after that.
        assert!(
            line.handle_packet(Side::B, from("10.0.0.2:6000"), &rtp(5))
                .is_ok()
        );
        assert_eq!(
            line.handle_packet(Side::B, stranger, &rtp(6)),
            Err(Refused::NotLatched)
        );
        assert_eq!(line.counters(Side::B).packets_received, 1);
    }

    #[test]
    fn new_keys_make_new_contexts_and_unchanged_keys_keep_them() {
        let mut line = line();
        let caller = from("10.0.0.1:4000");
        let mut sender = Context::new(&key(2));
        let first = sender.protect_rtp(&rtp(1)).unwrap();
        assert!(line.handle_packet(Side::A, caller, &first).is_ok());
        let a = [
            Some(address("10.0.0.1:4000")),
            Some(address("10.0.0.1:4001")),
        ];
        // The same keys again (a re-INVITE that kept the crypto): the replay window stays.
        line.set_leg(Side::A, a, keys(1, 2));
        assert_eq!(
            line.handle_packet(Side::A, caller, &first),
            Err(Refused::Replayed)
        );
        // New keys: the old key no longer authenticates, the new one does.
        line.set_leg(Side::A, a, keys(3, 4));
        let old = sender.protect_rtp(&rtp(2)).unwrap();
        assert_eq!(
            line.handle_packet(Side::A, caller, &old),
            Err(Refused::Authentication)
        );
        let new = Context::new(&key(4)).protect_rtp(&rtp(3)).unwrap();
        assert_eq!(
            line.handle_packet(Side::A, caller, &new).unwrap().contents,
            rtp(3)
        );
    }

    #[test]
    fn a_packet_through_a_turn_relay_latches_the_relay_and_the_answer_goes_back_through_it() {
        let mut line = line();
        line.set_leg(Side::A, [Some(address("10.0.0.1:4000")), None], None);
        let relayed = Arrival {
            route: Route {
                address: address("198.51.100.7:9000"),
                relay: Some(address("192.0.2.1:3478")),
            },
            rtcp_port: false,
        };
        assert!(line.handle_packet(Side::A, relayed, &rtp(1)).is_ok());
        let back = line
            .handle_packet(Side::B, from("10.0.0.2:6000"), &rtp(1))
            .unwrap();
        assert_eq!(back.route, relayed.route);
        // The same peer straight, not through the relay, is another source on a clear leg.
        let straight = Arrival::direct(address("198.51.100.7:9000"), false);
        assert_eq!(
            line.handle_packet(Side::A, straight, &rtp(2)),
            Err(Refused::NotLatched)
        );
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_recognised_and_sequence_gaps_count_as_lost() {
        let mut line = line();
        let callee = from("10.0.0.2:6000");
        for seq in [1, 2, 5, 4, 6] {
            line.handle_packet(Side::B, callee, &rtp(seq)).unwrap();
        }
        assert_eq!(
            line.counters(Side::B).lost,
            2,
            "3 and 4 missed at 5; 4 late"
        );
        let mut report = vec![0x80, 200, 0, 6, 0, 0, 0, 7];
        report.resize(28, 0);
        let forward = line.handle_packet(Side::B, callee, &report).unwrap();
        assert!(forward.rtcp);
        assert_eq!(forward.route, Route::direct(address("10.0.0.1:4001")));
    }
}
