//! One anchored media line, both legs: a task that reads RTP and RTCP on each leg's ports and
//! forwards them to the other leg, unprotecting with the peer's key and protecting with
//! TwoLeg's own on each leg (SRTP↔RTP, suite to suite), so no leg ever sees another leg's key.
//!
//! Symmetric latching: a leg sends to where its peer's packets come from once one has arrived
//! (before that, to the address in the peer's SDP). On an SRTP leg only an authenticated packet
//! moves the latch; on a clear leg the first packet sets it and packets from anywhere else are
//! dropped. Every drop is counted, nothing malformed is forwarded, and the task holds a fixed
//! amount of memory whatever arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;
use twoleg_core::media::{MediaCounters, MediaReport};
use twoleg_core::srtp::{Context, Error as SrtpError, MasterKey};
use twoleg_core::status::Side;

use super::MediaTotals;
use crate::node::Message;

/// How often a leg whose counters moved reports them to the engine.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// The largest packet relayed (larger ones are truncated by the socket and dropped).
const MAX_PACKET: usize = 2_048;

/// What the media plane tells a line's task.
pub(super) enum Command {
    /// A leg opened (with its sockets) or changed (peer addresses, keys).
    Leg(Box<LegSetup>),
    /// A leg closed: its ports are released.
    Close(Side),
}

/// One leg as the engine describes it.
pub(super) struct LegSetup {
    pub(super) side: Side,
    /// RTP and RTCP sockets, when the leg is new.
    pub(super) sockets: Option<[UdpSocket; 2]>,
    pub(super) remote_rtp: Option<SocketAddr>,
    pub(super) remote_rtcp: Option<SocketAddr>,
    /// TwoLeg's key (send) and the peer's (receive); `None`: clear RTP.
    pub(super) keys: Option<(MasterKey, MasterKey)>,
}

#[derive(Default)]
struct Leg {
    sockets: Option<[UdpSocket; 2]>,
    /// From the peer's SDP.
    remote: [Option<SocketAddr>; 2],
    /// Where the peer's packets come from (RTP, RTCP).
    latched: [Option<SocketAddr>; 2],
    keys: Option<(MasterKey, MasterKey)>,
    send: Option<Context>,
    receive: Option<Context>,
    counters: MediaCounters,
    reported: MediaCounters,
    last_seq: Option<u16>,
}

impl Leg {
    fn set_up(&mut self, setup: LegSetup) {
        if let Some(sockets) = setup.sockets {
            self.sockets = Some(sockets);
        }
        if self.remote != [setup.remote_rtp, setup.remote_rtcp] {
            // A new peer address (a re-INVITE moved the media): learn the latch again.
            self.remote = [setup.remote_rtp, setup.remote_rtcp];
            self.latched = [None, None];
        }
        // RFC 4568 §7.1.4: unchanged keys keep their contexts (and replay state).
        if self.keys != setup.keys {
            self.send = setup.keys.as_ref().map(|(send, _)| Context::new(send));
            self.receive = setup
                .keys
                .as_ref()
                .map(|(_, receive)| Context::new(receive));
            self.keys = setup.keys;
        }
    }

    fn destination(&self, rtcp: bool) -> Option<SocketAddr> {
        let kind = usize::from(rtcp);
        self.latched[kind].or(self.remote[kind])
    }
}

/// Waits until one of a leg's sockets has something to read, or for ever when the leg has none.
async fn readable(sockets: &Option<[UdpSocket; 2]>, kind: usize) {
    match sockets {
        Some(sockets) => {
            // An error here (the socket is gone) shows again on the read that follows.
            let _ = sockets[kind].readable().await;
        }
        None => std::future::pending().await,
    }
}

/// Packets read from one socket before the task looks at its other sockets and commands again.
const BATCH: usize = 64;

/// Relays one media line until both its legs are closed.
pub(super) async fn run(
    tag: String,
    stream: u32,
    mut commands: UnboundedReceiver<Command>,
    reports: SyncSender<Message>,
    totals: Arc<MediaTotals>,
) {
    let mut legs: [Leg; 2] = Default::default();
    let mut buffer = [0u8; MAX_PACKET];
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let index = tokio::select! {
            command = commands.recv() => {
                match command {
                    Some(Command::Leg(setup)) => {
                        let side = setup.side.index();
                        legs[side].set_up(*setup);
                    }
                    Some(Command::Close(side)) => {
                        let leg = &mut legs[side.index()];
                        leg.sockets = None;
                        report(&tag, stream, side, leg, &reports, true);
                        if legs.iter().all(|leg| leg.sockets.is_none()) {
                            return;
                        }
                    }
                    None => return,
                }
                continue;
            }
            _ = tick.tick() => {
                for side in [Side::A, Side::B] {
                    report(&tag, stream, side, &mut legs[side.index()], &reports, false);
                }
                continue;
            }
            () = readable(&legs[0].sockets, 0) => 0,
            () = readable(&legs[0].sockets, 1) => 1,
            () = readable(&legs[1].sockets, 0) => 2,
            () = readable(&legs[1].sockets, 1) => 3,
        };
        let (side, kind) = (index / 2, index % 2);
        // Everything waiting on that socket, up to a batch: one wake-up for many packets.
        for _ in 0..BATCH {
            let arrived = match &legs[side].sockets {
                Some(sockets) => sockets[kind].try_recv_from(&mut buffer),
                None => break,
            };
            let (length, source) = match arrived {
                Ok(arrived) => arrived,
                // WouldBlock: drained. Anything else (an ICMP port unreachable from a peer that
                // went away) is for this read only.
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            let packet = &buffer[..length];
            // RTCP by its packet type (RFC 5761 §4), wherever it arrived: a peer that muxes
            // sends it to the RTP port.
            let rtcp = kind == 1 || packet.get(1).is_some_and(|kind| (192..=223).contains(kind));
            let Some((out, destination)) = relay(&mut legs, side, rtcp, packet, source, &totals)
            else {
                continue;
            };
            let sent = match &legs[1 - side].sockets {
                Some(sockets) => sockets[usize::from(rtcp)]
                    .try_send_to(&out, destination)
                    .is_ok(),
                None => false,
            };
            if sent {
                let other = &mut legs[1 - side];
                other.counters.packets_sent += 1;
                other.counters.bytes_sent += out.len() as u64;
                totals.relayed.fetch_add(1, Ordering::Relaxed);
            } else {
                totals.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One packet that arrived on leg `side`: what goes out on the other leg, and where.
fn relay(
    legs: &mut [Leg; 2],
    side: usize,
    rtcp: bool,
    packet: &[u8],
    source: SocketAddr,
    totals: &MediaTotals,
) -> Option<(Vec<u8>, SocketAddr)> {
    let kind = usize::from(rtcp);
    let minimum = if rtcp { 8 } else { 12 };
    let leg = &mut legs[side];
    let refuse = |counter: &std::sync::atomic::AtomicU64| {
        counter.fetch_add(1, Ordering::Relaxed);
        None
    };
    if packet.len() < minimum || packet.len() >= MAX_PACKET || packet[0] >> 6 != 2 {
        return refuse(&totals.dropped);
    }
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
                    return refuse(&totals.replays);
                }
                Err(error) => {
                    tracing::debug!(
                        %source,
                        rtcp,
                        length = packet.len(),
                        first = packet[1],
                        %error,
                        "media packet refused"
                    );
                    leg.counters.auth_failures += 1;
                    return refuse(&totals.auth_failures);
                }
            }
        }
        None => {
            if leg.latched[kind].is_some_and(|latched| latched != source) {
                return refuse(&totals.dropped);
            }
            packet.to_vec()
        }
    };
    leg.latched[kind] = Some(source);
    leg.counters.packets_received += 1;
    leg.counters.bytes_received += packet.len() as u64;
    if !rtcp {
        let seq = u16::from_be_bytes([clear[2], clear[3]]);
        if let Some(last) = leg.last_seq {
            let ahead = seq.wrapping_sub(last);
            if ahead < 0x8000 {
                leg.counters.lost += u64::from(ahead.saturating_sub(1));
                leg.last_seq = Some(seq);
            }
        } else {
            leg.last_seq = Some(seq);
        }
    }
    let other = &mut legs[1 - side];
    let Some(destination) = other.destination(rtcp) else {
        return refuse(&totals.dropped);
    };
    let out = match other.send.as_mut() {
        Some(context) => {
            let result = if rtcp {
                context.protect_rtcp(&clear)
            } else {
                context.protect_rtp(&clear)
            };
            match result {
                Ok(out) => out,
                Err(_) => return refuse(&totals.dropped),
            }
        }
        None => clear,
    };
    Some((out, destination))
}

/// Sends a leg's counters to the engine when they moved (or always, when `last`); a full loop
/// queue skips the report rather than wait (the next one carries the totals).
fn report(
    tag: &str,
    stream: u32,
    side: Side,
    leg: &mut Leg,
    reports: &SyncSender<Message>,
    last: bool,
) {
    if leg.counters == leg.reported && !last {
        return;
    }
    let report = MediaReport {
        tag: tag.to_owned(),
        side,
        stream,
        counters: leg.counters,
    };
    if reports.try_send(Message::MediaReport(report)).is_ok() {
        leg.reported = leg.counters;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twoleg_core::srtp::Suite;

    fn key(byte: u8) -> MasterKey {
        MasterKey::new(Suite::AesCm128HmacSha1_80, vec![byte; 30], None).unwrap()
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

    /// Leg A SRTP (TwoLeg sends with key 1, the caller with key 2), leg B clear.
    fn legs() -> [Leg; 2] {
        let mut legs: [Leg; 2] = Default::default();
        legs[0].set_up(LegSetup {
            side: Side::A,
            sockets: None,
            remote_rtp: Some(address("10.0.0.1:4000")),
            remote_rtcp: Some(address("10.0.0.1:4001")),
            keys: Some((key(1), key(2))),
        });
        legs[1].set_up(LegSetup {
            side: Side::B,
            sockets: None,
            remote_rtp: Some(address("10.0.0.2:6000")),
            remote_rtcp: Some(address("10.0.0.2:6001")),
            keys: None,
        });
        legs
    }

    #[test]
    fn srtp_from_the_caller_goes_on_clear_and_clear_from_the_callee_goes_back_encrypted() {
        let (mut legs, totals) = (legs(), MediaTotals::default());
        let mut caller = Context::new(&key(2));
        let sent = caller.protect_rtp(&rtp(1)).unwrap();
        let nat = address("192.0.2.9:5555");
        let (out, to) = relay(&mut legs, 0, false, &sent, nat, &totals).unwrap();
        assert_eq!(out, rtp(1), "leg B gets the clear packet");
        assert_eq!(to, address("10.0.0.2:6000"));
        assert_eq!(
            legs[0].latched[0],
            Some(nat),
            "the authenticated packet latched"
        );
        // The callee answers in clear; TwoLeg protects with its own key toward the caller's
        // latched address.
        let (out, to) = relay(
            &mut legs,
            1,
            false,
            &rtp(9),
            address("10.0.0.2:6000"),
            &totals,
        )
        .unwrap();
        assert_eq!(to, nat);
        assert_ne!(out, rtp(9));
        assert_eq!(Context::new(&key(1)).unprotect_rtp(&out).unwrap(), rtp(9));
        assert_eq!(legs[0].counters.packets_received, 1);
        assert_eq!(legs[1].counters.packets_received, 1);
    }

    #[test]
    fn forged_replayed_malformed_and_unlatched_packets_are_dropped_and_counted() {
        let (mut legs, totals) = (legs(), MediaTotals::default());
        let stranger = address("203.0.113.5:1000");
        // Forged SRTP (another key) does not authenticate and does not move the latch.
        let forged = Context::new(&key(9)).protect_rtp(&rtp(1)).unwrap();
        assert!(relay(&mut legs, 0, false, &forged, stranger, &totals).is_none());
        assert_eq!(legs[0].counters.auth_failures, 1);
        assert_eq!(legs[0].latched[0], None);
        // A replay of a genuine packet.
        let genuine = Context::new(&key(2)).protect_rtp(&rtp(2)).unwrap();
        assert!(relay(&mut legs, 0, false, &genuine, stranger, &totals).is_some());
        assert!(relay(&mut legs, 0, false, &genuine, stranger, &totals).is_none());
        assert_eq!(legs[0].counters.replays, 1);
        // Short, and another RTP version.
        assert!(relay(&mut legs, 1, false, &[0x80, 0, 1], stranger, &totals).is_none());
        assert!(relay(&mut legs, 1, false, &[0x40; 172], stranger, &totals).is_none());
        // The clear leg latches on its first packet; another source is dropped after that.
        let callee = address("10.0.0.2:6000");
        assert!(relay(&mut legs, 1, false, &rtp(5), callee, &totals).is_some());
        assert!(relay(&mut legs, 1, false, &rtp(6), stranger, &totals).is_none());
        assert_eq!(MediaTotals::get(&totals.auth_failures), 1);
        assert_eq!(MediaTotals::get(&totals.replays), 1);
        assert_eq!(MediaTotals::get(&totals.dropped), 3);
    }

    #[test]
    fn new_keys_make_new_contexts_and_unchanged_keys_keep_them() {
        let (mut legs, totals) = (legs(), MediaTotals::default());
        let from = address("10.0.0.1:4000");
        let mut caller = Context::new(&key(2));
        let first = caller.protect_rtp(&rtp(1)).unwrap();
        assert!(relay(&mut legs, 0, false, &first, from, &totals).is_some());
        // The same keys again (a re-INVITE that kept the crypto): the replay window stays.
        let same = LegSetup {
            side: Side::A,
            sockets: None,
            remote_rtp: Some(from),
            remote_rtcp: Some(address("10.0.0.1:4001")),
            keys: Some((key(1), key(2))),
        };
        legs[0].set_up(same);
        assert!(
            relay(&mut legs, 0, false, &first, from, &totals).is_none(),
            "a replay"
        );
        // New keys: the old key no longer authenticates, the new one does.
        legs[0].set_up(LegSetup {
            side: Side::A,
            sockets: None,
            remote_rtp: Some(from),
            remote_rtcp: Some(address("10.0.0.1:4001")),
            keys: Some((key(3), key(4))),
        });
        let old = caller.protect_rtp(&rtp(2)).unwrap();
        assert!(relay(&mut legs, 0, false, &old, from, &totals).is_none());
        let new = Context::new(&key(4)).protect_rtp(&rtp(3)).unwrap();
        assert_eq!(
            relay(&mut legs, 0, false, &new, from, &totals).unwrap().0,
            rtp(3)
        );
    }
}
