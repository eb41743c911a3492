//! The scripted agent's media: the SDP it offers and answers (plain RTP, SRTP with `RTP/SAVP`, or
//! RFC 8643 opportunistic SRTP: `RTP/AVP` with `a=crypto`), and a few G.711 packets it sends to
//! where the far SDP says, protected with its own key when SRTP was agreed. What it receives is
//! unprotected with the peer's key and counted, so a run shows whether media got through.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use twoleg_core::srtp::{Context, Crypto, MasterKey, Suite};

use super::{Agent, Timer};

/// Time between two media packets (20 ms of G.711).
pub(crate) const PACKET_INTERVAL: Duration = Duration::from_millis(20);
/// Payload bytes of one media packet (20 ms of G.711 at 8 kHz).
const PAYLOAD: usize = 160;
/// Media ports each agent has for its calls (one even port per call, reused after that many).
pub(crate) const PORTS_PER_AGENT: u16 = 2_000;

/// What media an endpoint offers and accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSecurity {
    /// Clear RTP only (`RTP/AVP`, no crypto); an `RTP/SAVP`-only offer is refused with 488.
    #[default]
    Rtp,
    /// SRTP only (`RTP/SAVP` with `a=crypto`); an offer without crypto is refused with 488.
    Srtp,
    /// Opportunistic SRTP (RFC 8643): `RTP/AVP` with `a=crypto`; falls back to clear RTP.
    Osrtp,
}

impl MediaSecurity {
    /// Its name in the `X-Sim-Callee` header and the browser.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rtp => "rtp",
            Self::Srtp => "srtp",
            Self::Osrtp => "osrtp",
        }
    }

    /// Reads [`MediaSecurity::name`]; anything else is clear RTP.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "srtp" => Self::Srtp,
            "osrtp" => Self::Osrtp,
            _ => Self::Rtp,
        }
    }
}

/// What one agent saw of a call's media.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AgentMedia {
    /// SRTP was agreed with the peer (TwoLeg, when it anchors the media).
    pub encrypted: bool,
    /// Packets sent.
    pub sent: u32,
    /// Packets received that unprotected (or were clear, on a clear leg).
    pub received: u32,
    /// Packets received that failed SRTP authentication or came in clear on an SRTP leg.
    pub rejected: u32,
}

/// One call's media at one agent.
#[derive(Debug, Default)]
pub(crate) struct SessionMedia {
    pub(crate) security: MediaSecurity,
    port: u16,
    ssrc: u32,
    /// This agent's crypto line (its key for what it sends).
    own: Option<Crypto>,
    remote: Option<SocketAddr>,
    send: Option<Context>,
    receive: Option<Context>,
    seq: u16,
    /// Packets still to send.
    pub(crate) to_send: u32,
    /// A callee's answer to the INVITE's offer, until it answers.
    pub(crate) prepared: Option<String>,
}

/// What an SDP body says of its first media line.
struct Description {
    remote: Option<SocketAddr>,
    proto: String,
    cryptos: Vec<Crypto>,
}

fn describe(body: &[u8]) -> Option<Description> {
    let text = std::str::from_utf8(body).ok()?;
    let mut address: Option<IpAddr> = None;
    let mut port = None;
    let mut proto = String::new();
    let mut cryptos = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("c=") {
            address = rest.split_whitespace().nth(2).and_then(|a| a.parse().ok());
        } else if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break;
            }
            let mut fields = rest.split_whitespace();
            port = fields.nth(1).and_then(|p| p.parse::<u16>().ok());
            proto = fields.next().unwrap_or_default().to_owned();
        } else if let Some(value) = line.strip_prefix("a=crypto:")
            && port.is_some()
            && let Ok(crypto) = Crypto::parse(value)
        {
            cryptos.push(crypto);
        }
    }
    let remote = address
        .zip(port)
        .filter(|(_, port)| *port != 0)
        .map(|(ip, port)| SocketAddr::new(ip, port));
    Some(Description {
        remote,
        proto,
        cryptos,
    })
}

impl Agent {
    /// The media address of the agent's session `id`.
    fn media_address(&self, id: u64) -> SocketAddr {
        let port = self.sessions.get(&id).map_or(0, |s| s.media.port);
        SocketAddr::new(self.address.ip(), port)
    }

    /// Gives a new session its media port.
    pub(super) fn media_port_for(&self, id: u64) -> u16 {
        self.media_base + 2 * (id % u64::from(PORTS_PER_AGENT / 2)) as u16
    }

    /// Whether `address` is one of this agent's media ports.
    pub(crate) fn owns_media(&self, address: SocketAddr) -> bool {
        address.ip() == self.address.ip()
            && (self.media_base..self.media_base + PORTS_PER_AGENT).contains(&address.port())
    }

    fn fresh_crypto(&mut self, suite: Suite, tag: u32) -> Crypto {
        let mut material = vec![0; suite.key_len() + suite.salt_len()];
        self.rng.fill_bytes(&mut material);
        Crypto {
            tag,
            key: MasterKey::new(suite, material, None).expect("the suite's own length"),
            session_params: Vec::new(),
        }
    }

    /// The SDP offer of session `id`, as its security says.
    pub(super) fn offer_sdp(&mut self, id: u64) -> String {
        let Some(security) = self.sessions.get(&id).map(|s| s.media.security) else {
            return String::new();
        };
        let own = match security {
            MediaSecurity::Rtp => None,
            MediaSecurity::Srtp | MediaSecurity::Osrtp => Some(
                self.sessions[&id]
                    .media
                    .own
                    .clone()
                    .unwrap_or_else(|| self.fresh_crypto(Suite::AesCm128HmacSha1_80, 1)),
            ),
        };
        let proto = if security == MediaSecurity::Srtp {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        };
        let sdp = self.sdp(id, proto, own.as_ref());
        if let Some(session) = self.sessions.get_mut(&id) {
            session.media.own = own;
        }
        sdp
    }

    /// The SDP answer of session `id` to `offer`, or `None` when its security cannot accept
    /// the offer (then the call gets 488).
    pub(super) fn answer_sdp(&mut self, id: u64, offer: &[u8]) -> Option<String> {
        let security = self.sessions.get(&id)?.media.security;
        let offer = describe(offer)?;
        let secure_profile = offer.proto.contains("SAVP");
        let theirs = offer.cryptos.first().cloned();
        let agreed = match (security, theirs) {
            (MediaSecurity::Rtp, _) if secure_profile => return None,
            (MediaSecurity::Rtp, _) => None,
            (MediaSecurity::Srtp, None) => return None,
            (MediaSecurity::Osrtp, None) if secure_profile => return None,
            (MediaSecurity::Osrtp, None) => None,
            (MediaSecurity::Srtp | MediaSecurity::Osrtp, Some(theirs)) => Some(theirs),
        };
        let own = agreed.as_ref().map(|theirs| {
            let kept = self.sessions[&id]
                .media
                .own
                .clone()
                .filter(|own| own.suite() == theirs.suite());
            let own = kept.unwrap_or_else(|| self.fresh_crypto(theirs.suite(), theirs.tag));
            Crypto {
                tag: theirs.tag,
                ..own
            }
        });
        let proto = if offer.proto.is_empty() {
            "RTP/AVP".to_owned()
        } else {
            offer.proto.clone()
        };
        let sdp = self.sdp(id, &proto, own.as_ref());
        let session = self.sessions.get_mut(&id)?;
        session.media.remote = offer.remote;
        session.record.media.encrypted = own.is_some();
        session.media.send = own.as_ref().map(|own| Context::new(&own.key));
        session.media.receive = agreed.as_ref().map(|theirs| Context::new(&theirs.key));
        session.media.own = own;
        Some(sdp)
    }

    /// Session `id` got the answer to its offer.
    pub(super) fn take_answer(&mut self, id: u64, answer: &[u8]) {
        let Some(answer) = describe(answer) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let media = &mut session.media;
        media.remote = answer.remote;
        let agreed = answer.cryptos.first().filter(|theirs| {
            media
                .own
                .as_ref()
                .is_some_and(|own| own.tag == theirs.tag && own.suite() == theirs.suite())
        });
        session.record.media.encrypted = agreed.is_some();
        media.send = agreed
            .and(media.own.as_ref())
            .map(|own| Context::new(&own.key));
        media.receive = agreed.map(|theirs| Context::new(&theirs.key));
    }

    fn sdp(&self, id: u64, proto: &str, crypto: Option<&Crypto>) -> String {
        let address = self.media_address(id);
        let mut sdp = format!(
            "v=0\r\no=sim {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = address.ip(),
            port = address.port(),
        );
        if let Some(crypto) = crypto {
            sdp.push_str(&format!("a=crypto:{crypto}\r\n"));
        }
        sdp
    }

    /// The call is confirmed: its packets start.
    pub(super) fn start_media(&mut self, id: u64) {
        let packets = self.media_packets;
        let ssrc = self.rng.next_u32();
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if packets == 0 || session.media.to_send > 0 || session.record.media.sent > 0 {
            return;
        }
        session.media.to_send = packets;
        session.media.ssrc = ssrc;
        self.timers
            .set((id, Timer::Media), self.now + PACKET_INTERVAL);
    }

    /// Sends session `id`'s next packet.
    pub(super) fn send_media(&mut self, id: u64) {
        let from = self.media_address(id);
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let media = &mut session.media;
        let Some(to) = media.remote.filter(|_| media.to_send > 0) else {
            return;
        };
        media.seq = media.seq.wrapping_add(1);
        let mut packet = Vec::with_capacity(12 + PAYLOAD);
        packet.extend_from_slice(&[0x80, 0]);
        packet.extend_from_slice(&media.seq.to_be_bytes());
        packet.extend_from_slice(&(u32::from(media.seq) * PAYLOAD as u32).to_be_bytes());
        packet.extend_from_slice(&media.ssrc.to_be_bytes());
        packet.resize(12 + PAYLOAD, 0xd5);
        let (bytes, note) = match media.send.as_mut() {
            Some(context) => match context.protect_rtp(&packet) {
                Ok(protected) => (
                    protected,
                    format!("SRTP seq={} ({})", media.seq, context.suite().name()),
                ),
                Err(_) => return,
            },
            None => (packet, format!("RTP seq={}", media.seq)),
        };
        media.to_send -= 1;
        session.record.media.sent += 1;
        let more = media.to_send > 0;
        self.media_outbox.push((from, to, bytes, note));
        if more {
            self.timers
                .set((id, Timer::Media), self.now + PACKET_INTERVAL);
        }
    }

    /// A media packet arrived at `to`.
    pub(crate) fn handle_media(&mut self, to: SocketAddr, contents: &[u8]) {
        let Some(session) = self
            .sessions
            .values_mut()
            .find(|s| s.media.port == to.port() && s.media.port != 0)
        else {
            return;
        };
        let media = &mut session.media;
        let clear = match media.receive.as_mut() {
            Some(context) => context.unprotect_rtp(contents).is_ok(),
            None => contents.len() >= 12 && contents[0] >> 6 == 2,
        };
        if clear {
            session.record.media.received += 1;
        } else {
            session.record.media.rejected += 1;
        }
    }

    /// Takes the media packets sent since the last call: (from, to, bytes, what they are).
    pub(crate) fn take_media_outbox(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>, String)> {
        std::mem::take(&mut self.media_outbox)
    }
}

impl super::Session {
    /// Gives the session its media port and security.
    pub(super) fn with_media(mut self, security: MediaSecurity, port: u16) -> Self {
        self.media.security = security;
        self.media.port = port;
        self
    }
}
