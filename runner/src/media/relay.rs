//! One anchored media line, both legs: a task that reads RTP and RTCP on each leg's ports and
//! hands every packet to the core's [`MediaLine`] (which unprotects, counts, latches and
//! protects per leg), then sends what it returns on the other leg.
//!
//! A leg's ports are the task's own, or (the Lync leg's first media line) shared with the SIP
//! loop, which reads them for the TURN allocations' STUN: its reader hands this task the media
//! ([`SharedPacket`]), RTP straight from the peer or unwrapped from a TURN Data indication,
//! and the task sends on a clone of the socket (through the relay in a Send indication when the
//! peer's packets came that way). Every drop is counted, nothing malformed is forwarded, and the
//! task holds a fixed amount of memory whatever arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::{Receiver, UnboundedReceiver};
use twoleg_core::media::relay::{Arrival, Forward, MediaLine, Refused};
use twoleg_core::media::{MediaCounters, MediaReport, SrtpKeys};
use twoleg_core::status::Side;
use twoleg_core::turn::stun::{TransactionId, wrap_send};

use super::MediaTotals;
use crate::node::Message;

/// How often a leg whose counters moved reports them to the engine.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// The largest packet relayed (larger ones are truncated by the socket and dropped).
pub(crate) const MAX_PACKET: usize = 2_048;

/// What the media plane tells a line's task.
pub(crate) enum Command {
    /// A leg opened (with its ports) or changed (peer addresses, keys).
    Leg(Box<LegSetup>),
    /// A leg closed: its ports are released.
    Close(Side),
}

/// A packet the SIP loop's reader took from a shared port of leg `side`.
pub(crate) struct SharedPacket {
    pub(crate) side: Side,
    pub(crate) arrival: Arrival,
    pub(crate) contents: Vec<u8>,
}

/// Shared-port packets waiting for a line's task, at most (more are dropped and counted).
pub(crate) const SHARED_QUEUE: usize = 1_024;

/// A leg's RTP and RTCP sockets.
pub(super) enum Ports {
    /// The task's own: it reads them.
    Own([UdpSocket; 2]),
    /// Shared with the SIP loop, which reads them: the task only sends (blocking sockets; a
    /// UDP send does not wait in practice).
    Shared([std::net::UdpSocket; 2]),
}

/// One leg as the engine describes it.
pub(super) struct LegSetup {
    pub(super) side: Side,
    /// The leg's sockets, when the leg is new.
    pub(super) ports: Option<Ports>,
    pub(super) remote: [Option<SocketAddr>; 2],
    /// `None`: clear RTP.
    pub(super) keys: Option<SrtpKeys>,
}

#[derive(Default)]
struct Leg {
    ports: Option<Ports>,
    reported: MediaCounters,
}

impl Leg {
    /// Sends a packet on this leg: straight to the peer, or to the TURN server in a Send
    /// indication when the peer's packets come through it.
    fn send(&self, forward: &Forward, transaction: &mut u64) -> bool {
        let Some(ports) = &self.ports else {
            return false;
        };
        let index = usize::from(forward.rtcp);
        let wrapped;
        let (contents, to) = match forward.route.relay {
            Some(relay) => {
                *transaction = transaction.wrapping_add(1);
                wrapped = wrap_send(
                    forward.route.address,
                    &forward.contents,
                    indication_id(*transaction),
                );
                (wrapped.as_slice(), relay)
            }
            None => (forward.contents.as_slice(), forward.route.address),
        };
        match ports {
            Ports::Own(sockets) => sockets[index].try_send_to(contents, to).is_ok(),
            Ports::Shared(sockets) => sockets[index].send_to(contents, to).is_ok(),
        }
    }
}

/// A Send indication's transaction id: random per task, then counting.
fn indication_id(counter: u64) -> TransactionId {
    let mut id = [0; 12];
    id[4..].copy_from_slice(&counter.to_be_bytes());
    TransactionId(id)
}

/// Waits until one of a leg's own sockets has something to read, or for ever when the leg has
/// none (or shares them with the SIP loop).
async fn readable(ports: &Option<Ports>, kind: usize) {
    match ports {
        Some(Ports::Own(sockets)) => {
            // An error here (the socket is gone) shows again on the read that follows.
            let _ = sockets[kind].readable().await;
        }
        _ => std::future::pending().await,
    }
}

/// Packets read from one socket before the task looks at its other sockets and commands again.
const BATCH: usize = 64;

/// Relays one media line until both its legs are closed.
pub(super) async fn run(
    tag: String,
    stream: u32,
    mut commands: UnboundedReceiver<Command>,
    mut shared: Receiver<SharedPacket>,
    reports: SyncSender<Message>,
    totals: Arc<MediaTotals>,
) {
    let mut line = MediaLine::default();
    let mut legs: [Leg; 2] = Default::default();
    let mut buffer = [0u8; MAX_PACKET];
    let mut transaction = {
        let mut seed = [0; 8];
        let _ = getrandom::fill(&mut seed);
        u64::from_ne_bytes(seed)
    };
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let index = tokio::select! {
            command = commands.recv() => {
                match command {
                    Some(Command::Leg(setup)) => {
                        let LegSetup { side, ports, remote, keys } = *setup;
                        if let Some(ports) = ports {
                            legs[side.index()].ports = Some(ports);
                        }
                        line.set_leg(side, remote, keys);
                    }
                    Some(Command::Close(side)) => {
                        legs[side.index()].ports = None;
                        report(&tag, stream, side, &line, &mut legs[side.index()], &reports, true);
                        if legs.iter().all(|leg| leg.ports.is_none()) {
                            return;
                        }
                    }
                    None => return,
                }
                continue;
            }
            Some(packet) = shared.recv() => {
                let forwarded = line.handle_packet(packet.side, packet.arrival, &packet.contents);
                send(&legs, packet.side, forwarded, &totals, &mut transaction);
                continue;
            }
            _ = tick.tick() => {
                for side in [Side::A, Side::B] {
                    report(&tag, stream, side, &line, &mut legs[side.index()], &reports, false);
                }
                continue;
            }
            () = readable(&legs[0].ports, 0) => 0,
            () = readable(&legs[0].ports, 1) => 1,
            () = readable(&legs[1].ports, 0) => 2,
            () = readable(&legs[1].ports, 1) => 3,
        };
        let (side, kind) = (if index < 2 { Side::A } else { Side::B }, index % 2);
        // Everything waiting on that socket, up to a batch: one wake-up for many packets.
        for _ in 0..BATCH {
            let arrived = match &legs[side.index()].ports {
                Some(Ports::Own(sockets)) => sockets[kind].try_recv_from(&mut buffer),
                _ => break,
            };
            let (length, source) = match arrived {
                Ok(arrived) => arrived,
                // WouldBlock: drained. Anything else (an ICMP port unreachable from a peer that
                // went away) is for this read only.
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            if length >= MAX_PACKET {
                totals.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let arrival = Arrival::direct(source, kind == 1);
            let forwarded = line.handle_packet(side, arrival, &buffer[..length]);
            send(&legs, side, forwarded, &totals, &mut transaction);
        }
    }
}

/// Sends what the line forwards from leg `from` on the other leg, or counts why not.
fn send(
    legs: &[Leg; 2],
    from: Side,
    forwarded: Result<Forward, Refused>,
    totals: &MediaTotals,
    transaction: &mut u64,
) {
    let counter: &AtomicU64 = match forwarded {
        Ok(forward) if legs[from.other().index()].send(&forward, transaction) => &totals.relayed,
        Ok(_) => &totals.dropped,
        Err(Refused::Authentication) => &totals.auth_failures,
        Err(Refused::Replayed) => &totals.replays,
        Err(_) => &totals.dropped,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Sends a leg's counters to the engine when they moved (or always, when `last`); a full loop
/// queue skips the report rather than wait (the next one carries the totals).
fn report(
    tag: &str,
    stream: u32,
    side: Side,
    line: &MediaLine,
    leg: &mut Leg,
    reports: &SyncSender<Message>,
    last: bool,
) {
    let counters = line.counters(side);
    if counters == leg.reported && !last {
        return;
    }
    let report = MediaReport {
        tag: tag.to_owned(),
        side,
        stream,
        counters,
    };
    if reports.try_send(Message::MediaReport(report)).is_ok() {
        leg.reported = counters;
    }
}
