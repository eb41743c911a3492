//! SIP over TCP and TLS: listeners that accept connections, connections TwoLeg opens toward
//! destinations, and one tokio task per connection that reads into the engine loop and writes
//! what the engine sends. Which connection goes where lives on the loop's thread (this
//! struct); the tasks talk to it by messages only, so a slow or half-open peer never holds the
//! engine. Framing is the engine's: the tasks move bytes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use twoleg_core::config::{ConnectionLimits, ValidConfig};
use twoleg_core::sip::Frame;
use twoleg_core::{ConnectionId, Transmit, Transport};

use crate::node::Message;
use crate::tls::{self, TlsContext};

/// Bytes read at most per read.
const READ_BUFFER: usize = 16 * 1024;

/// What happens on a connection, told to the loop.
pub(crate) enum StreamEvent {
    /// A connection is up (accepted, or opened toward a destination).
    Opened {
        id: ConnectionId,
        transport: Transport,
        local: SocketAddr,
        peer: SocketAddr,
        /// Opened by TwoLeg toward `peer` (as opposed to accepted).
        outbound: bool,
        commands: UnboundedSender<Command>,
        tls: Option<TlsInfo>,
    },
    /// Bytes read, and how many whole messages they completed.
    Data {
        id: ConnectionId,
        bytes: Vec<u8>,
        messages: u64,
    },
    /// The connection is gone.
    Closed { id: ConnectionId, reason: String },
    /// A connection toward `destination` could not be opened.
    ConnectFailed {
        transport: Transport,
        destination: SocketAddr,
        reason: String,
    },
}

/// What the loop asks of a connection's task.
pub(crate) enum Command {
    Write(Vec<u8>),
    Close,
}

/// What a TLS connection negotiated.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TlsInfo {
    pub(crate) version: String,
    pub(crate) cipher: String,
    /// The subject of the peer's certificate, if it showed one.
    pub(crate) peer_certificate: Option<String>,
}

/// One open connection, as the loop knows it.
struct Conn {
    transport: Transport,
    local: SocketAddr,
    peer: SocketAddr,
    outbound: bool,
    commands: UnboundedSender<Command>,
    opened: std::time::Instant,
    tls: Option<TlsInfo>,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

/// One connection as `/api/connections` shows it.
#[derive(Serialize)]
pub(crate) struct ConnectionView {
    id: u64,
    transport: Transport,
    local: SocketAddr,
    peer: SocketAddr,
    direction: &'static str,
    age_s: u64,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsInfo>,
}

/// Counts shared with the tasks.
#[derive(Default)]
pub(crate) struct StreamCounters {
    pub(crate) open: AtomicUsize,
    /// Connections that came up (accepted, TLS handshake done; or opened by TwoLeg).
    pub(crate) opened: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    next_id: AtomicU64,
}

/// Everything the tasks share.
#[derive(Clone)]
struct Shared {
    loop_tx: SyncSender<Message>,
    counters: Arc<StreamCounters>,
    limits: ConnectionLimits,
}

impl Shared {
    /// Tells the loop; waits (off the async scheduler) while its queue is full, which is the
    /// back-pressure a slow engine puts on readers.
    fn tell(&self, event: StreamEvent) {
        let tx = self.loop_tx.clone();
        tokio::task::block_in_place(move || {
            // The loop is gone only when the runner is stopping.
            let _ = tx.send(Message::Stream(event));
        });
    }

    fn next_id(&self) -> ConnectionId {
        ConnectionId(self.counters.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The stream side of the runner.
pub(crate) struct Streams {
    runtime: tokio::runtime::Runtime,
    listeners: Vec<(Transport, SocketAddr, TcpListener)>,
    tls: BTreeMap<SocketAddr, TlsContext>,
    limits: ConnectionLimits,
    counters: Arc<StreamCounters>,
    shared: Option<Shared>,
    conns: BTreeMap<ConnectionId, Conn>,
    by_peer: BTreeMap<(Transport, SocketAddr), ConnectionId>,
    /// Transmits waiting for a connection being opened toward a destination.
    connecting: BTreeMap<(Transport, SocketAddr), Vec<Vec<u8>>>,
}

impl Streams {
    /// Binds the TCP and TLS listeners of `config` and loads their TLS files (relative names
    /// from `config_dir`).
    pub(crate) fn bind(config: &ValidConfig, config_dir: &Path) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sip streams")
            .enable_io()
            .enable_time()
            .build()
            .context("starting the stream runtime")?;
        let mut listeners = Vec::new();
        let mut contexts = BTreeMap::new();
        for listener in config.listeners() {
            if listener.transport == Transport::Udp {
                continue;
            }
            if let Some(plan) = &listener.tls {
                let context = tls::context(plan, config_dir)
                    .with_context(|| format!("TLS files of listener {}", listener.name))?;
                contexts.insert(listener.address, context);
            }
            let socket = runtime
                .block_on(TcpListener::bind(listener.address))
                .with_context(|| {
                    format!(
                        "binding SIP listener {}:{}",
                        listener.transport, listener.address
                    )
                })?;
            tracing::info!(listener = %listener.address, name = %listener.name, transport = %listener.transport, "listening for SIP");
            listeners.push((listener.transport, listener.address, socket));
        }
        Ok(Self {
            runtime,
            listeners,
            tls: contexts,
            limits: config.connections(),
            counters: Arc::new(StreamCounters::default()),
            shared: None,
            conns: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            connecting: BTreeMap::new(),
        })
    }

    /// Starts accepting, feeding `loop_tx`.
    pub(crate) fn start(&mut self, loop_tx: &SyncSender<Message>) {
        let shared = Shared {
            loop_tx: loop_tx.clone(),
            counters: self.counters.clone(),
            limits: self.limits,
        };
        for (transport, local, listener) in std::mem::take(&mut self.listeners) {
            let acceptor = self
                .tls
                .get(&local)
                .map(|context| tokio_rustls::TlsAcceptor::from(context.server.clone()));
            self.runtime
                .spawn(accept(listener, transport, local, acceptor, shared.clone()));
        }
        self.shared = Some(shared);
    }

    /// The runtime the connections run on (DNS lookups run there too).
    pub(crate) fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Counts for metrics.
    pub(crate) fn counters(&self) -> &StreamCounters {
        &self.counters
    }

    /// Sends what the engine asked, on the connection it named, or one open to the
    /// destination, or a new one.
    pub(crate) fn send(&mut self, transmit: Transmit) {
        let key = (transmit.transport, transmit.destination);
        let id = transmit
            .connection
            .filter(|id| self.conns.contains_key(id))
            .or_else(|| self.by_peer.get(&key).copied());
        if let Some(id) = id {
            let conn = self.conns.get_mut(&id).expect("looked up just above");
            conn.messages_out += 1;
            conn.bytes_out += transmit.contents.len() as u64;
            // A task that is gone sends its Closed on its own.
            let _ = conn.commands.send(Command::Write(transmit.contents));
            return;
        }
        let waiting = self.connecting.entry(key).or_default();
        waiting.push(transmit.contents);
        if waiting.len() > 1 {
            return;
        }
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let connector = match transmit.transport {
            Transport::Tls => {
                let Some(context) = self.tls.get(&transmit.source) else {
                    tracing::error!(source = %transmit.source, "TLS from a listener without TLS files");
                    self.connecting.remove(&key);
                    return;
                };
                Some(tokio_rustls::TlsConnector::from(context.client.clone()))
            }
            _ => None,
        };
        let name = transmit.server_name.clone();
        self.runtime.spawn(connect(
            transmit.transport,
            transmit.source,
            transmit.destination,
            connector,
            name,
            shared,
        ));
    }

    /// The loop learned of a connection's event; returns what to tell the engine: bytes read,
    /// a connection gone, or a destination that could not be reached.
    pub(crate) fn on_event(&mut self, event: StreamEvent) -> Option<Arrived> {
        match event {
            StreamEvent::Opened {
                id,
                transport,
                local,
                peer,
                outbound,
                commands,
                tls,
            } => {
                tracing::debug!(id = id.0, %transport, %peer, outbound, "connection open");
                self.by_peer.insert((transport, peer), id);
                if outbound {
                    for bytes in self
                        .connecting
                        .remove(&(transport, peer))
                        .unwrap_or_default()
                    {
                        let _ = commands.send(Command::Write(bytes));
                    }
                }
                self.conns.insert(
                    id,
                    Conn {
                        transport,
                        local,
                        peer,
                        outbound,
                        commands,
                        opened: std::time::Instant::now(),
                        tls,
                        messages_in: 0,
                        bytes_in: 0,
                        messages_out: 0,
                        bytes_out: 0,
                    },
                );
                None
            }
            StreamEvent::Data {
                id,
                bytes,
                messages,
            } => {
                let conn = self.conns.get_mut(&id)?;
                conn.messages_in += messages;
                conn.bytes_in += bytes.len() as u64;
                Some(Arrived::Bytes {
                    transport: conn.transport,
                    connection: id,
                    source: conn.peer,
                    local: conn.local,
                    bytes,
                })
            }
            StreamEvent::Closed { id, reason } => {
                let conn = self.conns.remove(&id)?;
                tracing::debug!(id = id.0, peer = %conn.peer, %reason, "connection closed");
                if self.by_peer.get(&(conn.transport, conn.peer)) == Some(&id) {
                    self.by_peer.remove(&(conn.transport, conn.peer));
                }
                Some(Arrived::Closed(id))
            }
            StreamEvent::ConnectFailed {
                transport,
                destination,
                reason,
            } => {
                tracing::warn!(%transport, %destination, %reason, "cannot open a connection");
                self.connecting.remove(&(transport, destination));
                Some(Arrived::Unreachable {
                    transport,
                    destination,
                })
            }
        }
    }

    /// Closes a connection (the engine cannot frame it any more).
    pub(crate) fn close(&mut self, id: ConnectionId) {
        if let Some(conn) = self.conns.get(&id) {
            let _ = conn.commands.send(Command::Close);
        }
    }

    /// Every open connection, for the admin API.
    pub(crate) fn views(&self) -> Vec<ConnectionView> {
        self.conns
            .iter()
            .map(|(id, conn)| ConnectionView {
                id: id.0,
                transport: conn.transport,
                local: conn.local,
                peer: conn.peer,
                direction: if conn.outbound { "outbound" } else { "inbound" },
                age_s: conn.opened.elapsed().as_secs(),
                messages_in: conn.messages_in,
                bytes_in: conn.bytes_in,
                messages_out: conn.messages_out,
                bytes_out: conn.bytes_out,
                tls: conn.tls.clone(),
            })
            .collect()
    }

    /// How many connections are open.
    pub(crate) fn open(&self) -> usize {
        self.conns.len()
    }
}

/// What the engine hears from the stream side.
pub(crate) enum Arrived {
    Bytes {
        transport: Transport,
        connection: ConnectionId,
        source: SocketAddr,
        local: SocketAddr,
        bytes: Vec<u8>,
    },
    Closed(ConnectionId),
    Unreachable {
        transport: Transport,
        destination: SocketAddr,
    },
}

/// Accepts connections on one listener while under the limit.
async fn accept(
    listener: TcpListener,
    transport: Transport,
    local: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Shared,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%local, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.counters.open.load(Ordering::Relaxed) >= shared.limits.max {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "connection refused: at the limit");
            drop(stream);
            continue;
        }
        shared.counters.open.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let id = shared.next_id();
            let Some(acceptor) = acceptor else {
                run(stream, id, transport, local, peer, false, None, shared).await;
                return;
            };
            match tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(stream))
                .await
            {
                Ok(Ok(stream)) => {
                    let info = tls_info(stream.get_ref().1);
                    run(
                        stream,
                        id,
                        transport,
                        local,
                        peer,
                        false,
                        Some(info),
                        shared,
                    )
                    .await;
                }
                Ok(Err(e)) => handshake_failed(&shared, peer, &e.to_string()),
                Err(_) => handshake_failed(&shared, peer, "timed out"),
            }
        });
    }
}

fn handshake_failed(shared: &Shared, peer: SocketAddr, why: &str) {
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
    shared
        .counters
        .handshake_failures
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%peer, error = %why, "TLS handshake failed");
}

/// Opens a connection from `local`'s IP toward `destination`.
async fn connect(
    transport: Transport,
    local: SocketAddr,
    destination: SocketAddr,
    connector: Option<tokio_rustls::TlsConnector>,
    server_name: Option<String>,
    shared: Shared,
) {
    let failed = |reason: String| {
        shared.tell(StreamEvent::ConnectFailed {
            transport,
            destination,
            reason,
        })
    };
    if shared.counters.open.load(Ordering::Relaxed) >= shared.limits.max {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        failed("at the connection limit".to_owned());
        return;
    }
    let stream = match tokio::time::timeout(
        shared.limits.handshake_timeout,
        open_tcp(local, destination),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(_) => return failed("connect timed out".to_owned()),
    };
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    let id = shared.next_id();
    let Some(connector) = connector else {
        run(
            stream,
            id,
            transport,
            local,
            destination,
            true,
            None,
            shared,
        )
        .await;
        return;
    };
    let name = match server_name {
        Some(name) => rustls::pki_types::ServerName::try_from(name)
            .map_err(|e| e.to_string())
            .map(|name| name.to_owned()),
        None => Ok(rustls::pki_types::ServerName::IpAddress(
            destination.ip().into(),
        )),
    };
    let name = match name {
        Ok(name) => name,
        Err(e) => {
            shared.counters.open.fetch_sub(1, Ordering::Relaxed);
            return failed(format!("bad TLS server name: {e}"));
        }
    };
    match tokio::time::timeout(
        shared.limits.handshake_timeout,
        connector.connect(name, stream),
    )
    .await
    {
        Ok(Ok(stream)) => {
            let info = tls_info(stream.get_ref().1);
            run(
                stream,
                id,
                transport,
                local,
                destination,
                true,
                Some(info),
                shared,
            )
            .await;
        }
        Ok(Err(e)) => {
            handshake_failed(&shared, destination, &e.to_string());
            failed(format!("TLS handshake: {e}"));
        }
        Err(_) => {
            handshake_failed(&shared, destination, "timed out");
            failed("TLS handshake timed out".to_owned());
        }
    }
}

async fn open_tcp(local: SocketAddr, destination: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if destination.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if local.is_ipv4() == destination.is_ipv4() {
        socket.bind(SocketAddr::new(local.ip(), 0))?;
    }
    let stream = socket.connect(destination).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn tls_info<C>(connection: &rustls::ConnectionCommon<C>) -> TlsInfo {
    TlsInfo {
        version: connection
            .protocol_version()
            .map_or_else(String::new, |v| format!("{v:?}")),
        cipher: connection
            .negotiated_cipher_suite()
            .map_or_else(String::new, |s| format!("{:?}", s.suite())),
        peer_certificate: connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(tls::subject),
    }
}

/// Moves bytes between one connection and the loop until either side ends it, or it idles
/// past the limit.
#[allow(clippy::too_many_arguments)]
async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    id: ConnectionId,
    transport: Transport,
    local: SocketAddr,
    peer: SocketAddr,
    outbound: bool,
    tls: Option<TlsInfo>,
    shared: Shared,
) {
    let (commands_tx, commands) = unbounded_channel();
    shared.counters.opened.fetch_add(1, Ordering::Relaxed);
    shared.tell(StreamEvent::Opened {
        id,
        transport,
        local,
        peer,
        outbound,
        commands: commands_tx,
        tls,
    });
    let reason = serve(stream, id, commands, &shared).await;
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
    shared.tell(StreamEvent::Closed { id, reason });
}

/// Counts the whole SIP messages a connection's reads complete, for `/api/connections` (the
/// engine does the real framing; this one only counts, with the core's framer, on the
/// connection's own task). After a framing error it stops: the engine closes the connection.
#[derive(Default)]
struct MessageCount {
    /// The start of a message still arriving.
    pending: Vec<u8>,
    broken: bool,
}

impl MessageCount {
    fn read(&mut self, bytes: &[u8]) -> u64 {
        if self.broken {
            return 0;
        }
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        let mut messages = 0;
        loop {
            match twoleg_core::sip::frame(&self.pending[at..], usize::MAX) {
                Frame::Incomplete => break,
                Frame::Ping(n) | Frame::Skip(n) => at += n,
                Frame::Message(n) => {
                    at += n;
                    messages += 1;
                }
                _ => {
                    self.broken = true;
                    self.pending = Vec::new();
                    return messages;
                }
            }
        }
        self.pending.drain(..at);
        messages
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    id: ConnectionId,
    mut commands: UnboundedReceiver<Command>,
    shared: &Shared,
) -> String {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buffer = vec![0; READ_BUFFER];
    let idle = shared.limits.idle_timeout;
    let mut deadline = tokio::time::Instant::now() + idle;
    let mut count = MessageCount::default();
    loop {
        tokio::select! {
            read = reader.read(&mut buffer) => match read {
                Ok(0) => return "closed by the peer".to_owned(),
                Ok(n) => {
                    deadline = tokio::time::Instant::now() + idle;
                    let messages = count.read(&buffer[..n]);
                    shared.tell(StreamEvent::Data { id, bytes: buffer[..n].to_vec(), messages });
                }
                Err(e) => return format!("read: {e}"),
            },
            command = commands.recv() => match command {
                Some(Command::Write(bytes)) => {
                    deadline = tokio::time::Instant::now() + idle;
                    if let Err(e) = writer.write_all(&bytes).await {
                        return format!("write: {e}");
                    }
                }
                Some(Command::Close) | None => {
                    let _ = writer.shutdown().await;
                    return "closed by TwoLeg".to_owned();
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                let _ = writer.shutdown().await;
                return "idle".to_owned();
            }
        }
    }
}
