//! Anchored media: when either leg's zone has a media encryption mode other than Auto (the
//! encryption B2BUA), or the call goes through the Microsoft Lync B2BUA, TwoLeg takes the
//! call's media. Every SDP crossing between the legs is
//! checked against the policy of the leg it came from and rewritten for the other leg with
//! TwoLeg's address, ports, profile and keys ([`crate::media`]); each stream's ports, peer
//! addresses and SRTP keys go to the host as [`Event::MediaStream`], and the ports are freed
//! with [`Event::MediaStreamClosed`] when the call ends.

use std::net::{IpAddr, SocketAddr};

use rand::RngCore;
use twoleg_srtp::{Crypto, MasterKey, Suite};

use super::B2bua;
use super::call::Call;
use super::timers::CallTimer;
use crate::config::{Encryption, MediaEncryptionMode};
use crate::event::Event;
use crate::media::policy::{self, OfferForm, SectionChoice};
use crate::media::rewrite::{self, Origin, SectionOut};
use crate::media::sdp::{MediaSection, SessionDescription};
use crate::media::{MediaCounters, MediaReport, MediaStream, PolicyViolation, SrtpKeys};
use crate::sip::{HeaderName, Headers};
use crate::status::{MediaStatus, Side, StreamLegStatus, StreamStatus, ZoneStatus};
use crate::time::Instant;

/// How long a call refused because the encryption B2BUA is full is asked to wait.
pub(crate) const BUSY_RETRY_AFTER_S: u32 = 30;

/// The `Warning` of a response refusing an offer (RFC 3261 §20.43: 399, miscellaneous).
pub(crate) fn warning(violation: &PolicyViolation) -> String {
    format!("399 twoleg \"{violation}\"")
}

/// Whether a body is SDP (its Content-Type, `application/sdp` when it has none).
pub(crate) fn is_sdp(headers: &Headers, body: &[u8]) -> bool {
    !body.is_empty()
        && headers
            .get(&HeaderName::CONTENT_TYPE)
            .unwrap_or("application/sdp")
            .split(';')
            .next()
            .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/sdp"))
}

/// Whether an SDP body TwoLeg relays is an offer or an answer (RFC 3264).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SdpRole {
    Offer,
    Answer,
}

/// The anchored media of one call.
#[derive(Debug)]
pub(crate) struct Anchor {
    /// The Lync leg, when the call goes through the Lync B2BUA.
    lync: Option<Side>,
    /// The port pair of the Lync leg's TURN allocations: the first stream's port on that leg
    /// (owned by the allocations, not by the anchor).
    turn_port: Option<u16>,
    zones: [String; 2],
    modes: [MediaEncryptionMode; 2],
    /// TwoLeg's media address on each leg: the IP of the leg's listener.
    ips: [IpAddr; 2],
    origins: [Origin; 2],
    streams: Vec<Stream>,
    /// The last offer relayed, until the next one.
    pending: Option<PendingOffer>,
    /// Streams were announced to the host (so their closing is too).
    announced: bool,
    /// When the media plane last reported a packet received (or the call was answered).
    last_media: Instant,
    /// The last SDP received put the media on hold (`a=sendonly`, `recvonly` or `inactive`):
    /// silence is expected, the media timeout waits.
    held: bool,
}

#[derive(Debug, Default)]
struct Stream {
    /// TwoLeg's RTP port on each leg (RTCP on the next).
    ports: [Option<u16>; 2],
    /// Where each port came from, so it goes back there.
    pools: [Pool; 2],
    legs: [StreamLeg; 2],
}

/// Where an anchored port pair comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Pool {
    /// The encryption B2BUA's media port range.
    #[default]
    Encryption,
    /// The Lync B2BUA's media port range.
    Lync,
    /// The Lync leg's TURN allocations own it.
    Turn,
}

#[derive(Clone, Debug, Default)]
struct StreamLeg {
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    /// TwoLeg's crypto line on the leg (its key for what it sends).
    own: Option<Crypto>,
    /// The peer's crypto line (its key for what it sends).
    peer: Option<Crypto>,
    /// What the host's media plane last reported.
    counters: MediaCounters,
}

#[derive(Debug)]
struct PendingOffer {
    offerer: Side,
    offer: SessionDescription,
    choices: Vec<SectionChoice>,
    /// Per section: the form TwoLeg offered on the other leg, and its crypto lines there.
    sent: Vec<(OfferForm, Vec<Crypto>)>,
    /// Per section: the offerer repeated its crypto, so TwoLeg's own key on its leg stays.
    keep: Vec<bool>,
    /// The offer as received and as sent on, so that a repeated offer is sent on unchanged.
    received: Vec<u8>,
    translated: Vec<u8>,
    /// The answer as received and as sent on, likewise.
    answered: Option<(Vec<u8>, Vec<u8>)>,
}

impl Anchor {
    /// Whether the Lync B2BUA holds it (rather than the encryption B2BUA).
    pub(crate) fn is_lync(&self) -> bool {
        self.lync.is_some()
    }

    /// The port pair of the Lync leg's TURN allocations, before any SDP is anchored.
    pub(crate) fn set_turn_port(&mut self, port: Option<u16>) {
        self.turn_port = port;
    }

    /// What call status and history show of it.
    pub(crate) fn status(&self) -> MediaStatus {
        let zone = |side: Side| ZoneStatus {
            name: self.zones[side.index()].clone(),
            mode: self.modes[side.index()],
        };
        let streams = self
            .streams
            .iter()
            .enumerate()
            .filter_map(|(index, stream)| {
                let leg = |side: Side| {
                    let leg = &stream.legs[side.index()];
                    Some(StreamLegStatus {
                        local: SocketAddr::new(self.ips[side.index()], stream.ports[side.index()]?),
                        remote: leg.remote_rtp,
                        suite: leg
                            .own
                            .as_ref()
                            .zip(leg.peer.as_ref())
                            .map(|(own, _)| own.suite().name().to_owned()),
                        counters: leg.counters,
                    })
                };
                Some(StreamStatus {
                    index: index as u32,
                    legs: [leg(Side::A)?, leg(Side::B)?],
                })
            })
            .collect();
        MediaStatus {
            component: if self.lync.is_some() {
                "Microsoft Lync B2BUA"
            } else {
                "B2BUA"
            }
            .to_owned(),
            zones: [zone(Side::A), zone(Side::B)],
            streams,
        }
    }
}

impl Anchor {
    /// `offer` as TwoLeg sends it on leg `to`: each section with the form and crypto lines in
    /// `sent` and the stream's port on that leg.
    fn write_offer(
        &mut self,
        offer: &SessionDescription,
        choices: &[SectionChoice],
        sent: &[(OfferForm, Vec<Crypto>)],
        to: Side,
    ) -> Vec<u8> {
        let sections: Vec<SectionOut<'_>> = offer
            .media
            .iter()
            .zip(choices.iter().zip(sent))
            .enumerate()
            .map(|(index, (section, (choice, (form, cryptos))))| {
                let port = match choice {
                    SectionChoice::Reject => 0,
                    SectionChoice::Use { .. } => self
                        .streams
                        .get(index)
                        .and_then(|stream| stream.ports[to.index()])
                        .unwrap_or(0),
                };
                SectionOut {
                    source: section,
                    port,
                    secure_profile: if port == 0 {
                        section.is_savp()
                    } else {
                        *form == OfferForm::Savp
                    },
                    cryptos: cryptos.clone(),
                }
            })
            .collect();
        self.origins[to.index()].version += 1;
        rewrite::write(
            offer,
            &self.origins[to.index()],
            self.ips[to.index()],
            &sections,
            self.lync == Some(to),
        )
    }
}

/// Whether a description puts its media on hold: a direction other than `sendrecv` at session
/// level or on a section in use (RFC 3264 §8.4).
fn on_hold(sdp: &SessionDescription) -> bool {
    let held = |direction: &str| {
        sdp.session_attribute(direction).is_some()
            || sdp
                .media
                .iter()
                .filter(|section| section.port != 0)
                .any(|section| section.attribute(direction).is_some())
    };
    ["sendonly", "recvonly", "inactive"].into_iter().any(held)
}

/// Where the peer of a section receives RTCP: its `a=rtcp` port (and address), the RTP port
/// when it muxes (RFC 5761), else the RTP port + 1.
fn rtcp_address(sdp: &SessionDescription, section: &MediaSection) -> Option<SocketAddr> {
    let ip = sdp.connection_of(section)?;
    if section.attribute("rtcp-mux").is_some() {
        return Some(SocketAddr::new(ip, section.port));
    }
    if let Some(value) = section.attribute("rtcp") {
        let mut fields = value.split_whitespace();
        let port = fields.next().and_then(|port| port.parse().ok());
        let address = fields.nth(2).and_then(|address| address.parse().ok());
        if let Some(port) = port {
            return Some(SocketAddr::new(address.unwrap_or(ip), port));
        }
    }
    Some(SocketAddr::new(ip, section.port.wrapping_add(1)))
}

impl B2bua {
    /// Calls whose media the encryption B2BUA holds (the Lync B2BUA's are not counted).
    pub(crate) fn anchored_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|call| call.anchor.as_ref().is_some_and(|a| a.lync.is_none()))
            .count()
    }

    /// The anchor of a new call from `source` toward `destination`, when either zone asks for
    /// the encryption B2BUA or `lync` names the call's Lync leg (the Lync B2BUA always takes
    /// the media); `ips` are TwoLeg's addresses on leg A and leg B. With the Lync B2BUA's
    /// encryption `required`, both legs are Force encrypted.
    pub(crate) fn anchor_for(
        &mut self,
        source: IpAddr,
        destination: IpAddr,
        ips: [IpAddr; 2],
        lync: Option<Side>,
    ) -> Option<Anchor> {
        let zones = self.config.zones();
        let (a_zone, mut a_mode) = zones.zone_of(source);
        let (b_zone, mut b_mode) = zones.zone_of(destination);
        if lync.is_none()
            && a_mode == MediaEncryptionMode::Auto
            && b_mode == MediaEncryptionMode::Auto
        {
            return None;
        }
        if lync.is_some() && self.config.lync().encryption == Encryption::Required {
            (a_mode, b_mode) = (
                MediaEncryptionMode::ForceEncrypted,
                MediaEncryptionMode::ForceEncrypted,
            );
        }
        let (a_zone, b_zone) = (a_zone.to_owned(), b_zone.to_owned());
        let origin = |rng: &mut rand_chacha::ChaCha8Rng| Origin {
            session_id: rng.next_u64() >> 2,
            version: 0,
        };
        let origins = [origin(&mut self.rng), origin(&mut self.rng)];
        Some(Anchor {
            lync,
            turn_port: None,
            zones: [a_zone, b_zone],
            modes: [a_mode, b_mode],
            ips,
            origins,
            streams: Vec::new(),
            pending: None,
            announced: false,
            last_media: self.now,
            held: false,
        })
    }

    /// An SDP `body` from leg `from` as it goes on to the other leg, or why it cannot.
    pub(crate) fn anchor_body(
        &mut self,
        tag: &str,
        anchor: &mut Anchor,
        from: Side,
        role: SdpRole,
        body: &[u8],
    ) -> Result<Vec<u8>, PolicyViolation> {
        match role {
            SdpRole::Offer => self.anchor_offer(anchor, from, body),
            SdpRole::Answer => self.anchor_answer(tag, anchor, from, body),
        }
    }

    fn anchor_offer(
        &mut self,
        anchor: &mut Anchor,
        from: Side,
        body: &[u8],
    ) -> Result<Vec<u8>, PolicyViolation> {
        if let Some(pending) = &anchor.pending
            && pending.offerer == from
            && pending.received == body
        {
            return Ok(pending.translated.clone());
        }
        let offer = SessionDescription::parse(body).map_err(|_| PolicyViolation::UnreadableSdp)?;
        let to = from.other();
        let choices = policy::choose_in_offer(anchor.modes[from.index()], &offer)?;
        anchor.held = on_hold(&offer);
        if anchor.streams.len() < offer.media.len() {
            anchor
                .streams
                .resize_with(offer.media.len(), Stream::default);
        }
        let mut sent = Vec::with_capacity(choices.len());
        let mut keep = Vec::with_capacity(choices.len());
        for (index, (section, choice)) in offer.media.iter().zip(&choices).enumerate() {
            let SectionChoice::Use { crypto, form } = choice else {
                sent.push((OfferForm::Plain, Vec::new()));
                keep.push(false);
                continue;
            };
            for side in [Side::A, Side::B] {
                if anchor.streams[index].ports[side.index()].is_none() {
                    let (port, pool) = self.anchor_port(anchor, index, side)?;
                    anchor.streams[index].ports[side.index()] = Some(port);
                    anchor.streams[index].pools[side.index()] = pool;
                }
            }
            let stream = &mut anchor.streams[index];
            let leg = &mut stream.legs[from.index()];
            leg.remote_rtp = offer
                .connection_of(section)
                .map(|ip| SocketAddr::new(ip, section.port));
            leg.remote_rtcp = rtcp_address(&offer, section);
            // RFC 4568 §7.1.4: the same crypto again keeps the contexts, so TwoLeg keeps its
            // own key on this leg too; a new one gets a new key in the answer.
            keep.push(leg.peer.is_some() && leg.peer == *crypto);
            leg.peer = crypto.clone();
            let form_out = policy::offer_form(anchor.modes[to.index()], *form);
            // A re-offer keeps TwoLeg's key on the other leg (its line first, with its tag);
            // the other suites get fresh keys.
            let current = stream.legs[to.index()].own.clone();
            let cryptos = match form_out {
                OfferForm::Plain => Vec::new(),
                OfferForm::Savp | OfferForm::Osrtp => {
                    let mut lines: Vec<Crypto> = current.into_iter().collect();
                    for suite in Suite::ALL {
                        if lines.iter().any(|line| line.suite() == suite) {
                            continue;
                        }
                        let tag = (1..)
                            .find(|tag| lines.iter().all(|line| line.tag != *tag))
                            .unwrap_or(1);
                        lines.push(self.own_crypto(suite, tag));
                    }
                    lines
                }
            };
            sent.push((form_out, cryptos));
        }
        let translated = anchor.write_offer(&offer, &choices, &sent, to);
        anchor.pending = Some(PendingOffer {
            offerer: from,
            offer,
            choices,
            sent,
            keep,
            received: body.to_vec(),
            translated: translated.clone(),
            answered: None,
        });
        Ok(translated)
    }

    fn anchor_answer(
        &mut self,
        tag: &str,
        anchor: &mut Anchor,
        from: Side,
        body: &[u8],
    ) -> Result<Vec<u8>, PolicyViolation> {
        let Some(pending) = anchor.pending.take() else {
            return Err(PolicyViolation::AnswerWithoutOffer);
        };
        if let Some((received, translated)) = &pending.answered
            && received == body
        {
            let translated = translated.clone();
            anchor.pending = Some(pending);
            return Ok(translated);
        }
        let result = self.answer_for(anchor, &pending, from, body);
        let translated = match result {
            Ok(translated) => {
                if let Ok(answer) = SessionDescription::parse(body) {
                    anchor.held = anchor.held || on_hold(&answer);
                }
                translated
            }
            Err(violation) => {
                anchor.pending = Some(pending);
                return Err(violation);
            }
        };
        anchor.pending = Some(PendingOffer {
            answered: Some((body.to_vec(), translated.clone())),
            ..pending
        });
        self.announce_streams(tag, anchor);
        Ok(translated)
    }

    fn answer_for(
        &mut self,
        anchor: &mut Anchor,
        pending: &PendingOffer,
        from: Side,
        body: &[u8],
    ) -> Result<Vec<u8>, PolicyViolation> {
        let to = pending.offerer;
        if from == to {
            return Err(PolicyViolation::AnswerWithoutOffer);
        }
        let answer = SessionDescription::parse(body).map_err(|_| PolicyViolation::UnreadableSdp)?;
        if answer.media.len() != pending.offer.media.len() {
            return Err(PolicyViolation::AnswerMismatch);
        }
        // Check every section before changing anything.
        let mut settled = Vec::with_capacity(answer.media.len());
        for ((choice, (form, cryptos)), section) in
            pending.choices.iter().zip(&pending.sent).zip(&answer.media)
        {
            settled.push(match choice {
                SectionChoice::Reject => None,
                SectionChoice::Use { .. } => {
                    let lines: Vec<(u32, Suite)> = cryptos
                        .iter()
                        .map(|crypto| (crypto.tag, crypto.suite()))
                        .collect();
                    policy::check_answer(*form, &lines, section)?
                }
            });
        }
        let mut sections = Vec::with_capacity(answer.media.len());
        for (index, ((section, offered), outcome)) in answer
            .media
            .iter()
            .zip(&pending.offer.media)
            .zip(settled)
            .enumerate()
        {
            let rejected = SectionOut {
                source: offered,
                port: 0,
                secure_profile: offered.is_savp(),
                cryptos: Vec::new(),
            };
            let (Some(peer), SectionChoice::Use { crypto, .. }) =
                (outcome, &pending.choices[index])
            else {
                sections.push(rejected);
                continue;
            };
            let own_there = peer.as_ref().and_then(|peer| {
                pending.sent[index]
                    .1
                    .iter()
                    .find(|own| own.tag == peer.tag)
                    .cloned()
            });
            let kept = anchor.streams[index].legs[to.index()]
                .own
                .clone()
                .filter(|own| {
                    pending.keep[index] && crypto.as_ref().is_some_and(|c| c.suite() == own.suite())
                });
            let own_here = match kept {
                Some(own) => Some(Crypto {
                    tag: crypto.as_ref().map_or(own.tag, |theirs| theirs.tag),
                    ..own
                }),
                None => crypto
                    .as_ref()
                    .map(|theirs| self.own_crypto(theirs.suite(), theirs.tag)),
            };
            let stream = &mut anchor.streams[index];
            let there = &mut stream.legs[from.index()];
            there.remote_rtp = answer
                .connection_of(section)
                .map(|ip| SocketAddr::new(ip, section.port));
            there.remote_rtcp = rtcp_address(&answer, section);
            there.peer = peer;
            there.own = own_there;
            stream.legs[to.index()].own = own_here.clone();
            let Some(port) = stream.ports[to.index()] else {
                sections.push(rejected);
                continue;
            };
            sections.push(SectionOut {
                source: section,
                port,
                secure_profile: offered.is_savp(),
                cryptos: own_here.into_iter().collect(),
            });
        }
        anchor.origins[to.index()].version += 1;
        Ok(rewrite::write(
            &answer,
            &anchor.origins[to.index()],
            anchor.ips[to.index()],
            &sections,
            anchor.lync == Some(to),
        ))
    }

    /// Tells the host about every stream both legs have settled.
    fn announce_streams(&mut self, tag: &str, anchor: &mut Anchor) {
        anchor.announced = true;
        for (index, stream) in anchor.streams.iter().enumerate() {
            for side in [Side::A, Side::B] {
                let Some(port) = stream.ports[side.index()] else {
                    continue;
                };
                let leg = &stream.legs[side.index()];
                let srtp = match (&leg.own, &leg.peer) {
                    (Some(own), Some(peer)) => Some(SrtpKeys {
                        send: own.key.clone(),
                        receive: peer.key.clone(),
                    }),
                    _ => None,
                };
                self.emit(Event::MediaStream(Box::new(MediaStream {
                    tag: tag.to_owned(),
                    side,
                    stream: index as u32,
                    local_rtp: SocketAddr::new(anchor.ips[side.index()], port),
                    remote_rtp: leg.remote_rtp,
                    remote_rtcp: leg.remote_rtcp,
                    peer_stream: index as u32,
                    srtp,
                })));
            }
        }
    }

    /// The media plane's counters for one leg of a stream; a report for a call or stream
    /// that is gone is dropped (the host may report after the close crossed it).
    pub(crate) fn on_media_report(&mut self, report: &MediaReport) {
        let now = self.now;
        let Some(anchor) = self.anchor_of(&report.tag) else {
            return;
        };
        let Some(stream) = anchor.streams.get_mut(report.stream as usize) else {
            return;
        };
        let leg = &mut stream.legs[report.side.index()];
        let moved = report.counters.packets_received > leg.counters.packets_received;
        leg.counters = report.counters;
        if moved {
            anchor.last_media = now;
        }
    }

    fn anchor_of(&mut self, tag: &str) -> Option<&mut Anchor> {
        let id = self.call_tags.get(tag)?;
        self.calls.get_mut(id)?.anchor.as_mut()
    }

    /// The call was answered: its media timeout starts.
    pub(crate) fn arm_media_timeout(&mut self, call: &mut Call) {
        let Some(timeout) = self.config.encryption().media_timeout else {
            return;
        };
        let Some(anchor) = call.anchor.as_mut() else {
            return;
        };
        anchor.last_media = self.now;
        self.set_call_timer(call.id, CallTimer::MediaTimeout, timeout);
    }

    /// The media timeout came due: a call with no packet on either leg for that long (and
    /// not on hold) ends with BYE on both legs; otherwise it is looked at again when the
    /// silence could next have lasted that long.
    pub(crate) fn on_media_timeout(&mut self, call: &mut Call) {
        let Some(timeout) = self.config.encryption().media_timeout else {
            return;
        };
        let now = self.now;
        let Some(anchor) = call.anchor.as_mut() else {
            return;
        };
        if call.ending.is_some() {
            return;
        }
        if anchor.held {
            anchor.last_media = now;
        }
        let silent = now.saturating_since(anchor.last_media);
        if silent < timeout {
            self.set_call_timer(call.id, CallTimer::MediaTimeout, timeout - silent);
            return;
        }
        let reason = format!(
            "media timeout: no media on either leg for {} s",
            timeout.as_secs()
        );
        self.tear_down(call, 408, reason);
    }

    /// Frees a call's media ports and tells the host.
    pub(crate) fn close_anchor(&mut self, tag: &str, anchor: &Anchor) {
        for (index, stream) in anchor.streams.iter().enumerate() {
            for side in [Side::A, Side::B] {
                let Some(port) = stream.ports[side.index()] else {
                    continue;
                };
                match stream.pools[side.index()] {
                    Pool::Encryption => self.anchor_ports.release(port),
                    Pool::Lync => self.media_ports.release(port),
                    Pool::Turn => {}
                }
                if !anchor.announced {
                    continue;
                }
                self.emit(Event::MediaStreamClosed {
                    tag: tag.to_owned(),
                    side,
                    stream: index as u32,
                    local_rtp: SocketAddr::new(anchor.ips[side.index()], port),
                });
            }
        }
    }

    /// A port pair for stream `index` on leg `side`: the Lync leg's first stream uses the
    /// pair of its TURN allocations, the Lync leg's others come from the Lync B2BUA's range,
    /// every other from the encryption B2BUA's.
    fn anchor_port(
        &mut self,
        anchor: &Anchor,
        index: usize,
        side: Side,
    ) -> Result<(u16, Pool), PolicyViolation> {
        let taken = if anchor.lync != Some(side) {
            self.anchor_ports
                .take()
                .map(|port| (port, Pool::Encryption))
        } else if let Some(port) = anchor.turn_port.filter(|_| index == 0) {
            Some((port, Pool::Turn))
        } else {
            self.media_ports.take().map(|port| (port, Pool::Lync))
        };
        taken.ok_or(PolicyViolation::NoMediaPorts)
    }

    /// The Lync leg's TURN allocations moved to the port pair `port` (another server), or
    /// were given up (`None`): the first stream on the Lync leg follows them, or takes a pair
    /// of its own. Returns the offer pending toward the Lync leg, rewritten for the new port,
    /// when there is one; only called while the Lync leg has seen no SDP of TwoLeg's.
    pub(crate) fn repoint_turn_port(
        &mut self,
        anchor: &mut Anchor,
        port: Option<u16>,
    ) -> Option<Vec<u8>> {
        let side = anchor.lync?;
        let old = anchor.turn_port;
        anchor.turn_port = port;
        let stream = anchor.streams.first_mut()?;
        if stream.ports[side.index()].is_none() || stream.ports[side.index()] == port {
            return None;
        }
        if stream.pools[side.index()] != Pool::Turn || stream.ports[side.index()] != old {
            return None;
        }
        stream.ports[side.index()] = None;
        match self.anchor_port(anchor, 0, side) {
            Ok((port, pool)) => {
                anchor.streams[0].ports[side.index()] = Some(port);
                anchor.streams[0].pools[side.index()] = pool;
            }
            // No pair left: the stream keeps the old number, as good as any on the wire.
            Err(_) => anchor.streams[0].ports[side.index()] = old,
        }
        let pending = anchor.pending.take()?;
        let rewritten = (pending.offerer != side && pending.answered.is_none())
            .then(|| anchor.write_offer(&pending.offer, &pending.choices, &pending.sent, side));
        let translated = rewritten
            .clone()
            .unwrap_or_else(|| pending.translated.clone());
        anchor.pending = Some(PendingOffer {
            translated,
            ..pending
        });
        rewritten
    }

    /// A crypto line with a fresh key of TwoLeg's for `suite`.
    fn own_crypto(&mut self, suite: Suite, tag: u32) -> Crypto {
        let mut material = vec![0; suite.key_len() + suite.salt_len()];
        self.key_rng.fill_bytes(&mut material);
        Crypto {
            tag,
            key: MasterKey::new(suite, material, None).expect("the suite's own length"),
            session_params: Vec::new(),
        }
    }
}
