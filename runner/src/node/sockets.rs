//! Sockets: the reader threads that feed the I/O loop, and the media ports the engine opens
//! and frees.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use anyhow::Context;

use super::{Message, Node};

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
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(tx) = &self.loop_tx
            && let Err(e) = spawn_reader(port, &socket, tx.clone(), Some(stop.clone()))
        {
            tracing::warn!(%port, error = %format!("{e:#}"), "cannot read a media port");
            return;
        }
        tracing::debug!(%port, "media port bound");
        self.media.insert(port, stop);
        self.sockets.insert(port, socket);
    }
}

pub(super) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1))
}

/// Reads datagrams from one socket into the I/O loop until the loop is gone, or until `stop` is
/// set (a media port the engine freed: the reader wakes twice a second to look).
pub(super) fn spawn_reader(
    local: SocketAddr,
    socket: &UdpSocket,
    tx: SyncSender<Message>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let socket = socket.try_clone().context("cloning a UDP socket")?;
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
                    Err(e) => tracing::debug!(%local, error = %e, "receive error"),
                }
            }
        })
        .context("starting a UDP reader")?;
    Ok(())
}
