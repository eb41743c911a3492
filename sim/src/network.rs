//! The simulated network: datagrams in flight between addresses, with latency, jitter and
//! seeded random loss, and a record of every datagram for the ladder diagram.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use twoleg_core::{ConnectionId, Instant, Transport};

/// How a link treats datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LinkConditions {
    /// One-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from zero to this.
    pub jitter: Duration,
    /// Probability (0 to 1) that a datagram is lost.
    pub loss: f64,
}

impl Default for LinkConditions {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

/// One datagram as the network saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Datagram {
    /// Its number, in sending order.
    pub id: u64,
    /// When it was sent.
    pub sent_at: Instant,
    /// When it arrived; `None` if it was lost.
    pub delivered_at: Option<Instant>,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// How it travelled: UDP, or a stream (then never lost, never reordered).
    pub transport: Transport,
    /// The stream connection, for TCP and TLS.
    pub connection: Option<ConnectionId>,
    /// Its bytes.
    pub contents: Vec<u8>,
    /// What a media packet is (`RTP seq=3`, `SRTP seq=3 (AES_CM_128_HMAC_SHA1_80)`), as its
    /// sender knows; `None` for signalling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
}

impl Datagram {
    /// The first line: a request line or a status line.
    pub fn start_line(&self) -> &str {
        let text = std::str::from_utf8(&self.contents).unwrap_or("");
        text.split("\r\n").next().unwrap_or("")
    }

    /// What the ladder diagram shows: the SIP start line, what a STUN/TURN message is
    /// ("Allocate request", "Allocate error 401", ...), or what a media packet is.
    pub fn summary(&self) -> String {
        if let Some(media) = &self.media {
            return media.clone();
        }
        twoleg_core::turn::describe(&self.contents).unwrap_or_else(|| self.start_line().to_owned())
    }

    /// The value of the first header with this name (case-insensitive; long names only).
    pub fn header(&self, name: &str) -> Option<&str> {
        let text = std::str::from_utf8(&self.contents).ok()?;
        let head = text.split("\r\n\r\n").next()?;
        head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Every value of a header, in order.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        let Some(text) = std::str::from_utf8(&self.contents).ok() else {
            return Vec::new();
        };
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
            .collect()
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        let at = self
            .contents
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(self.contents.len(), |i| i + 4);
        &self.contents[at..]
    }
}

/// Datagrams in flight.
#[derive(Debug)]
pub(crate) struct Network {
    conditions: LinkConditions,
    links: BTreeMap<(SocketAddr, SocketAddr), LinkConditions>,
    rng: ChaCha8Rng,
    in_flight: BTreeMap<(Instant, u64), Datagram>,
    keep_log: bool,
    log: Vec<Datagram>,
    next_id: u64,
    /// The latest delivery time on each stream path, to keep streams in order.
    stream_last: BTreeMap<(SocketAddr, SocketAddr), Instant>,
}

impl Network {
    pub(crate) fn new(conditions: LinkConditions, seed: u64, keep_log: bool) -> Self {
        Self {
            conditions,
            links: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            in_flight: BTreeMap::new(),
            keep_log,
            log: Vec::new(),
            next_id: 0,
            stream_last: BTreeMap::new(),
        }
    }

    /// Sets the conditions of the link from `from` to `to` (one direction).
    pub(crate) fn set_link(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        conditions: LinkConditions,
    ) {
        self.links.insert((from, to), conditions);
    }

    pub(crate) fn send(
        &mut self,
        now: Instant,
        path: (SocketAddr, SocketAddr),
        how: (Transport, Option<ConnectionId>),
        contents: Vec<u8>,
    ) {
        self.send_datagram(now, path, how, contents, None);
    }

    /// Sends a media packet (UDP), with what it is for the ladder.
    pub(crate) fn send_media(
        &mut self,
        now: Instant,
        path: (SocketAddr, SocketAddr),
        contents: Vec<u8>,
        note: String,
    ) {
        self.send_datagram(now, path, (Transport::Udp, None), contents, Some(note));
    }

    fn send_datagram(
        &mut self,
        now: Instant,
        (from, to): (SocketAddr, SocketAddr),
        (transport, connection): (Transport, Option<ConnectionId>),
        contents: Vec<u8>,
        media: Option<String>,
    ) {
        let conditions = self
            .links
            .get(&(from, to))
            .copied()
            .unwrap_or(self.conditions);
        let stream = transport != Transport::Udp;
        let lost = !stream
            && conditions.loss > 0.0
            && self.rng.random_bool(conditions.loss.clamp(0.0, 1.0));
        let jitter = if conditions.jitter.is_zero() {
            Duration::ZERO
        } else {
            let nanos = conditions.jitter.as_nanos() as u64;
            Duration::from_nanos(self.rng.random_range(0..=nanos))
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut delivered_at = (!lost).then(|| now + conditions.latency + jitter);
        if stream {
            // In order: never before what was sent earlier on the same path.
            let last = self.stream_last.entry((from, to)).or_insert(Instant::ZERO);
            let at = delivered_at.unwrap_or(now).max(*last);
            *last = at;
            delivered_at = Some(at);
        }
        let datagram = Datagram {
            id,
            sent_at: now,
            delivered_at,
            from,
            to,
            transport,
            connection,
            contents,
            media,
        };
        if self.keep_log {
            self.log.push(datagram.clone());
        }
        if let Some(at) = delivered_at {
            self.in_flight.insert((at, id), datagram);
        }
    }

    pub(crate) fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.first_key_value().map(|((at, _), _)| *at)
    }

    /// The next datagram due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let (&(at, _), _) = self.in_flight.first_key_value()?;
        if at > now {
            return None;
        }
        self.in_flight.pop_first().map(|(_, datagram)| datagram)
    }

    pub(crate) fn log(&self) -> &[Datagram] {
        &self.log
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
