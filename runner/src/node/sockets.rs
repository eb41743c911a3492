//! Sockets: the reader threads that feed the I/O loop, and the media ports the engine opens
//! and frees.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use twoleg_core::media::MediaStream;

use super::shedding::InputQueue;
use super::{Message, Node};
use crate::media::MediaRoute;

/// A media port the engine opened (the Lync leg's TURN port pair), read by a thread feeding the
/// loop.
pub(super) struct MediaPort {
    /// Set when the engine freed the port: the reader stops.
    pub(super) stop: Arc<AtomicBool>,
    /// Where the reader hands media once an anchored media line sits on the port.
    pub(super) route: Arc<Mutex<Option<MediaRoute>>>,
}

impl MediaPort {
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for MediaPort {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Node {
    /// Binds a media port the engine opened, with a reader feeding the loop.
    pub(super) fn open_media_port(&mut self, port: SocketAddr) {
        if self.sockets.contains_key(&port) {
            return;
        }
        let socket = match UdpSocket::bind(port) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(%port, error = %e, "cannot bind a media port");
                return;
            }
        };
        let media_port = MediaPort {
            stop: Arc::new(AtomicBool::new(false)),
            route: Arc::new(Mutex::new(None)),
        };
        if let Some(tx) = &self.loop_tx
            && let Err(e) = spawn_reader(
                port,
                &socket,
                tx.clone(),
                Some(&media_port),
                Arc::clone(&self.queue),
            )
        {
            tracing::warn!(%port, error = %format!("{e:#}"), "cannot read a media port");
            return;
        }
        tracing::debug!(%port, "media port bound");
        self.media.insert(port, media_port);
        self.sockets.insert(port, socket);
    }

    /// Hands an anchored media leg to the media plane: on ports of its own, or (the Lync leg's
    /// first line, on the TURN port pair this loop reads) on clones of the loop's sockets, with
    /// their readers told where the media goes.
    pub(super) fn open_media_stream(&mut self, stream: &MediaStream) {
        let ports = [stream.local_rtp, rtcp_of(stream.local_rtp)];
        if !self.media.contains_key(&ports[0]) {
            self.media_plane.open(stream, None);
            return;
        }
        let clone = |port: &SocketAddr| -> anyhow::Result<UdpSocket> {
            let socket = self.sockets.get(port).context("the port is not bound")?;
            socket.try_clone().context("cloning a media socket")
        };
        let clones = match (clone(&ports[0]), clone(&ports[1])) {
            (Ok(rtp), Ok(rtcp)) => [rtp, rtcp],
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(tag = %stream.tag, local = %ports[0], error = %format!("{e:#}"), "cannot relay media on a TURN port pair");
                return;
            }
        };
        let Some(route) = self.media_plane.open(stream, Some(clones)) else {
            return;
        };
        self.route_media(ports, Some(route));
    }

    /// Tells the readers of a shared port pair where media goes (`None`: to the loop again).
    pub(super) fn route_media(&self, ports: [SocketAddr; 2], route: Option<MediaRoute>) {
        for port in ports {
            if let Some(media_port) = self.media.get(&port) {
                let mut slot = media_port.route.lock().unwrap_or_else(|e| e.into_inner());
                *slot = route.clone();
            }
        }
    }
}

pub(super) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1))
}

/// Reads datagrams from one socket into the I/O loop until the loop is gone, or (a media port)
/// until the engine freed the port: the reader wakes twice a second to look. Media on a media
/// port goes to its route, once it has one, not to the loop.
pub(super) fn spawn_reader(
    local: SocketAddr,
    socket: &UdpSocket,
    tx: SyncSender<Message>,
    media: Option<&MediaPort>,
    queue: Arc<InputQueue>,
) -> anyhow::Result<()> {
    let socket = socket.try_clone().context("cloning a UDP socket")?;
    let stop = media.map(|port| Arc::clone(&port.stop));
    let route = media.map(|port| Arc::clone(&port.route));
    let rtcp_port = local.port() % 2 == 1;
    let listener = media.is_none();
    if listener {
        super::unreachable::enable(&socket, local);
    }
    if stop.is_some() {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .context("setting a media socket's read timeout")?;
    }
    std::thread::Builder::new()
        .name(format!("udp {local}"))
        .spawn(move || {
            let mut buffer = vec![0; 65_535];
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return;
                }
                match socket.recv_from(&mut buffer) {
                    Ok((n, source)) => {
                        let taken = route.as_ref().is_some_and(|route| {
                            // A poisoned lock only means a panic elsewhere; the route is whole.
                            let route = route.lock().unwrap_or_else(|e| e.into_inner());
                            route
                                .as_ref()
                                .is_some_and(|route| route.take(rtcp_port, source, &buffer[..n]))
                        });
                        if taken {
                            continue;
                        }
                        if let Some((refusal, to)) = queue.admit(&buffer[..n], source) {
                            tracing::debug!(%local, %source, depth = queue.depth(), "overloaded: a new INVITE shed with 503");
                            let _ = socket.send_to(&refusal, to);
                            continue;
                        }
                        let message = Message::Datagram {
                            local,
                            source,
                            contents: buffer[..n].to_vec(),
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    // Any error may leave an entry in the error queue (which counts against
                    // the receive buffer): drained every time.
                    Err(e) if listener => {
                        for error in super::unreachable::drain(&socket) {
                            tracing::debug!(%local, destination = %error.destination, %e, "ICMP error: unreachable");
                            if tx.send(Message::Unreachable(error)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(%local, error = %e, "receive error"),
                }
            }
        })
        .context("starting a UDP reader")?;
    Ok(())
}
