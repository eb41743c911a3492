//! The runner's media plane: relays the anchored media of calls the engine holds, natively (the
//! packets never enter the wasm guest). Driven by the engine's events: a
//! [`MediaStream`] binds that leg's RTP and RTCP ports (or updates its peer and keys), a
//! `MediaStreamClosed` closes them. Each anchored media line of a call (both its legs) is one
//! task on the media plane's own runtime (two worker threads, apart from the SIP streams'), so
//! calls spread over both cores and nothing here ever waits on the SIP engine's loop: the
//! tasks report their counters to the loop with a non-blocking send.
//!
//! The Lync leg's first media line sits on the port pair of its TURN allocations, which the
//! SIP loop reads (the allocations' STUN goes to the engine): there the loop's reader hands the
//! media to the line's task through a [`MediaRoute`], and the task sends on clones of those
//! sockets.

mod relay;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use anyhow::Context;
use tokio::sync::mpsc::{Sender, UnboundedSender, channel, unbounded_channel};
use twoleg_core::media::MediaStream;
use twoleg_core::media::relay::{Arrival, Route};
use twoleg_core::status::Side;
use twoleg_core::turn::stun::unwrap_data;

use self::relay::{Command, LegSetup, MAX_PACKET, Ports, SHARED_QUEUE, SharedPacket};
use crate::node::Message;

/// What the media plane counted since the runner started, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct MediaTotals {
    /// Packets forwarded from one leg to the other.
    pub(crate) relayed: AtomicU64,
    /// SRTP/SRTCP packets that failed authentication.
    pub(crate) auth_failures: AtomicU64,
    /// SRTP/SRTCP packets refused as replays.
    pub(crate) replays: AtomicU64,
    /// Packets dropped otherwise: too short, not RTP version 2, from an address other than the
    /// latched one on a clear leg, or arriving before the other leg is known.
    pub(crate) dropped: AtomicU64,
    /// Anchored media lines being relayed now.
    pub(crate) streams_open: AtomicU64,
}

impl MediaTotals {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One anchored media line being relayed.
struct StreamEntry {
    commands: UnboundedSender<Command>,
    /// Packets from the shared ports, when a leg has them.
    shared: Sender<SharedPacket>,
    /// The legs whose ports are bound.
    open: [bool; 2],
}

/// The media plane.
pub(crate) struct MediaPlane {
    runtime: tokio::runtime::Runtime,
    streams: BTreeMap<(String, u32), StreamEntry>,
    loop_tx: Option<SyncSender<Message>>,
    totals: Arc<MediaTotals>,
}

impl MediaPlane {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("media")
            .enable_io()
            .enable_time()
            .build()
            .context("starting the media runtime")?;
        Ok(Self {
            runtime,
            streams: BTreeMap::new(),
            loop_tx: None,
            totals: Arc::new(MediaTotals::default()),
        })
    }

    /// Where the relay tasks send their reports.
    pub(crate) fn start(&mut self, tx: &SyncSender<Message>) {
        self.loop_tx = Some(tx.clone());
    }

    /// The counters for `/metrics`.
    pub(crate) fn totals(&self) -> &MediaTotals {
        &self.totals
    }

    /// The engine opened or changed one leg of an anchored media line. `shared`: the leg's
    /// ports are read by the SIP loop (clones of its sockets, to send on); then the route its
    /// reader hands the media to comes back.
    pub(crate) fn open(
        &mut self,
        stream: &MediaStream,
        shared: Option<[UdpSocket; 2]>,
    ) -> Option<MediaRoute> {
        let key = (stream.tag.clone(), stream.stream);
        let side = stream.side;
        let bound = self
            .streams
            .get(&key)
            .is_some_and(|entry| entry.open[side.index()]);
        let ports = match (bound, shared) {
            (true, _) => None,
            (false, Some(shared)) => Some(Ports::Shared(shared)),
            (false, None) => match self.bind(stream.local_rtp) {
                Ok(sockets) => Some(Ports::Own(sockets)),
                Err(e) => {
                    tracing::warn!(tag = %stream.tag, ?side, local = %stream.local_rtp, error = %format!("{e:#}"), "cannot bind an anchored media port pair");
                    return None;
                }
            },
        };
        let setup = LegSetup {
            side,
            ports,
            remote: [stream.remote_rtp, stream.remote_rtcp],
            keys: stream.srtp.clone(),
        };
        let entry = match self.streams.entry(key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(vacant) => {
                let Some(reports) = self.loop_tx.clone() else {
                    tracing::error!("the media plane was not started");
                    return None;
                };
                let (commands, receiver) = unbounded_channel();
                let (shared, shared_receiver) = channel(SHARED_QUEUE);
                let totals = Arc::clone(&self.totals);
                let (tag, index) = vacant.key().clone();
                let task = relay::run(tag, index, receiver, shared_receiver, reports, totals);
                self.runtime.spawn(task);
                self.totals.streams_open.fetch_add(1, Ordering::Relaxed);
                vacant.insert(StreamEntry {
                    commands,
                    shared,
                    open: [false; 2],
                })
            }
        };
        entry.open[side.index()] = true;
        let _ = entry.commands.send(Command::Leg(Box::new(setup)));
        Some(MediaRoute {
            packets: entry.shared.clone(),
            side,
            totals: Arc::clone(&self.totals),
        })
    }

    /// The engine closed one leg of an anchored media line: its ports are released; the line's
    /// task ends with its last leg.
    pub(crate) fn close(&mut self, tag: &str, side: Side, stream: u32) {
        let key = (tag.to_owned(), stream);
        let Some(entry) = self.streams.get_mut(&key) else {
            return;
        };
        entry.open[side.index()] = false;
        let _ = entry.commands.send(Command::Close(side));
        if entry.open == [false, false] {
            self.streams.remove(&key);
            self.totals.streams_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Every media line closes (the engine instance that held them failed).
    pub(crate) fn close_all(&mut self) {
        for (_, entry) in std::mem::take(&mut self.streams) {
            let _ = entry.commands.send(Command::Close(Side::A));
            let _ = entry.commands.send(Command::Close(Side::B));
            self.totals.streams_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Binds a leg's RTP port and the RTCP port after it.
    fn bind(&self, rtp: SocketAddr) -> anyhow::Result<[tokio::net::UdpSocket; 2]> {
        let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
        let _runtime = self.runtime.enter();
        let open = |address: SocketAddr| -> anyhow::Result<tokio::net::UdpSocket> {
            let socket = UdpSocket::bind(address).with_context(|| format!("binding {address}"))?;
            socket
                .set_nonblocking(true)
                .context("making a media socket non-blocking")?;
            tokio::net::UdpSocket::from_std(socket).context("registering a media socket")
        };
        Ok([open(rtp)?, open(rtcp)?])
    }
}

/// Where the SIP loop's reader of a shared port (the Lync leg's TURN port pair) hands media: the
/// line's task, as leg `side`.
#[derive(Clone)]
pub(crate) struct MediaRoute {
    packets: Sender<SharedPacket>,
    side: Side,
    totals: Arc<MediaTotals>,
}

impl MediaRoute {
    /// Hands a datagram read on the leg's RTP or RTCP port to the line's task when it is media
    /// (RTP or RTCP straight from the peer, or unwrapped from a TURN Data indication); `false`
    /// when it is not (STUN for the allocations: the SIP loop's).
    pub(crate) fn take(&self, rtcp_port: bool, source: SocketAddr, contents: &[u8]) -> bool {
        let (route, contents) = if is_rtp(contents) {
            (Route::direct(source), contents.to_vec())
        } else if let Some((peer, data)) = unwrap_data(contents) {
            if !is_rtp(&data) {
                // ICE connectivity checks through the relay: TwoLeg does not run ICE.
                tracing::debug!(%source, %peer, "a Data indication without RTP or RTCP dropped");
                self.totals.dropped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            let route = Route {
                address: peer,
                relay: Some(source),
            };
            (route, data)
        } else {
            return false;
        };
        let packet = SharedPacket {
            side: self.side,
            arrival: Arrival { route, rtcp_port },
            contents,
        };
        // A full queue (the task is behind, or a flood): dropped, never waited for.
        if packet.contents.len() >= MAX_PACKET || self.packets.try_send(packet).is_err() {
            self.totals.dropped.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}

/// RTP and RTCP start with version 2 (RFC 7983: first byte 128 to 191).
fn is_rtp(contents: &[u8]) -> bool {
    contents
        .first()
        .is_some_and(|first| (128..=191).contains(first))
}
