//! TURN relays for the Lync leg of a call (Expressway's "Offer TURN services"): pick a server,
//! allocate an RTP and an RTCP relay on it from a pair of media ports, hold the Lync leg's
//! INVITE until both are granted (or failed, or the wait runs out), put host and relay
//! candidates in the SDP sent on that leg, open permissions for the far side's addresses,
//! refresh while the call lives and delete the allocations (Refresh with lifetime 0) when it
//! ends. Also the STUN Binding health probes of the TURN servers.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::call::{Call, CallId};
use super::{B2bua, CallTimer, TimerKey};
use crate::Receive;
use crate::event::{DropReason, Event};
use crate::ids;
use crate::status::{RelayState, Side, TurnAttempt, TurnDecision, TurnError};
use crate::turn::stun::Message;
use crate::turn::{
    self, AllocationState, Candidates, EndpointId, Health, TurnAllocation, TurnFailure,
};

/// Allocations live 600 s; permissions 300 s: both are renewed every 240 s (sooner if the server
/// granted a shorter lifetime).
const REFRESH_EVERY: Duration = Duration::from_secs(240);
const LIFETIME: Duration = Duration::from_secs(600);
/// Far-side addresses given permissions, at most (an SDP listing thousands must not turn into
/// thousands of CreatePermission requests).
const MAX_PEERS: usize = 16;

/// Identifies one allocation inside an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AllocId(pub(crate) u64);

/// One allocation on a TURN server, from one local media port.
#[derive(Debug)]
pub(crate) struct Allocation {
    turn: TurnAllocation,
    local: SocketAddr,
    /// The call it serves; `None` once the call is over or the attempt was given up, when it
    /// is deleted and its port freed.
    owner: Option<CallId>,
    deleting: bool,
}

/// The TURN side of a call's Lync leg.
#[derive(Debug)]
pub(crate) struct LyncMedia {
    /// The Lync leg.
    side: Side,
    tried: Vec<EndpointId>,
    rtp: AllocId,
    rtcp: AllocId,
    host_rtp: SocketAddr,
    ufrag: String,
    pwd: String,
    /// The Lync leg's INVITE waits for the relays.
    pub(crate) invite_held: bool,
    /// Far-side addresses with permissions asked for.
    peers: Vec<IpAddr>,
    /// How often allocations and permissions are renewed.
    refresh_every: Duration,
    /// Set once both relays are granted.
    candidates: Option<Candidates>,
}

/// The media port range: RTP on an even port, RTCP on the next one, handed out next-fit so a
/// pair just freed is not reused at once.
#[derive(Debug)]
pub(crate) struct MediaPorts {
    /// Even RTP ports whose RTCP port is in the range too.
    pairs: Vec<u16>,
    next: usize,
    used: BTreeSet<u16>,
}

impl MediaPorts {
    /// The pairs of the range, handed out from a place drawn from `seed`: a fresh engine (after
    /// a restart or a trapped instance) does not reuse the ports of allocations an earlier one
    /// may have left on the TURN servers.
    pub(crate) fn new((first, last): (u16, u16), seed: u64) -> Self {
        let (first, last) = (u32::from(first), u32::from(last));
        let pairs: Vec<u16> = (first + first % 2..last)
            .step_by(2)
            .filter_map(|port| u16::try_from(port).ok())
            .collect();
        let next = match pairs.len() {
            0 => 0,
            len => (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) as usize % len,
        };
        Self {
            pairs,
            next,
            used: BTreeSet::new(),
        }
    }

    /// A free RTP port whose RTCP port is free too.
    fn take(&mut self) -> Option<u16> {
        for _ in 0..self.pairs.len() {
            let port = self.pairs[self.next];
            self.next = (self.next + 1) % self.pairs.len();
            if !self.used.contains(&port) {
                self.used.insert(port);
                return Some(port);
            }
        }
        None
    }

    /// Frees a port (the RTP port of a pair frees the pair; an RTCP port is ignored).
    fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

impl B2bua {
    /// The TURN decision for a new call with a Lync leg, starting its allocations when a server
    /// is offered. The media address is on the IP of the Lync leg's listener.
    pub(super) fn begin_turn(
        &mut self,
        id: CallId,
        leg: Side,
        media_ip: IpAddr,
    ) -> (TurnDecision, Option<LyncMedia>) {
        let offer = self.config.lync().offer_turn_services;
        match turn::select(&self.turn_servers, offer, &[], &mut self.rng) {
            Ok(endpoint) => self.offer(id, leg, endpoint, media_ip, Vec::new(), Vec::new()),
            Err(reason) => (
                TurnDecision::NotOffered {
                    leg,
                    reason: reason.to_string(),
                },
                None,
            ),
        }
    }

    /// Whether a call from `source` comes from Microsoft Lync: the Lync B2BUA is enabled and
    /// `source` is on the IP of its signalling destination.
    pub(super) fn comes_from_lync(&self, source: SocketAddr) -> bool {
        let lync = self.config.lync();
        lync.enabled
            && lync
                .signalling_destination
                .is_some_and(|destination| destination.ip() == source.ip())
    }

    fn offer(
        &mut self,
        id: CallId,
        leg: Side,
        endpoint: EndpointId,
        media_ip: IpAddr,
        mut tried: Vec<EndpointId>,
        failed_over: Vec<TurnAttempt>,
    ) -> (TurnDecision, Option<LyncMedia>) {
        tried.push(endpoint);
        let chosen = self
            .turn_servers
            .endpoint(endpoint)
            .expect("the selector returns ids from this table")
            .clone();
        let port = self.media_ports.take();
        let decision = |relay| TurnDecision::Offered {
            leg,
            server: chosen.server,
            address: chosen.address,
            description: chosen.description.clone(),
            media: port.map(|port| SocketAddr::new(media_ip, port)),
            relay,
            redirected_to: None,
            failed_over: failed_over.clone(),
        };
        let Some(port) = port else {
            self.counters.turn_failures += 1;
            let error = TurnError {
                code: None,
                reason: "no free port pair in the media port range".to_owned(),
            };
            return (decision(RelayState::Failed(error)), None);
        };
        let host_rtp = SocketAddr::new(media_ip, port);
        let mut start = |local: SocketAddr| {
            let (allocation, first) = TurnAllocation::allocate(
                chosen.address,
                &chosen.username,
                chosen.password.expose(),
                self.now,
                &mut self.rng,
            );
            let alloc = AllocId(self.next_id());
            self.allocations.insert(
                alloc,
                Allocation {
                    turn: allocation,
                    local,
                    owner: Some(id),
                    deleting: false,
                },
            );
            self.alloc_by_local.insert(local, alloc);
            self.transmit(local, chosen.address, first);
            self.schedule_allocation(alloc);
            alloc
        };
        let rtp = start(host_rtp);
        let rtcp = start(SocketAddr::new(media_ip, port + 1));
        let media = LyncMedia {
            side: leg,
            tried,
            rtp,
            rtcp,
            host_rtp,
            ufrag: ids::token(&mut self.rng, 8),
            pwd: ids::token(&mut self.rng, 24),
            invite_held: true,
            peers: Vec::new(),
            refresh_every: REFRESH_EVERY,
            candidates: None,
        };
        let wait = self.config.lync().turn_allocation_timeout;
        self.set_call_timer(id, CallTimer::TurnGiveUp, wait);
        (decision(RelayState::Allocating), Some(media))
    }

    /// A STUN datagram: an answer to an allocation's request or to a health probe.
    pub(super) fn on_stun(&mut self, receive: Receive<'_>) {
        if let Some(&alloc) = self.alloc_by_local.get(&receive.destination) {
            let Some(entry) = self.allocations.get_mut(&alloc) else {
                return;
            };
            if receive.source != entry.turn.server() {
                self.emit(Event::Dropped {
                    source: receive.source,
                    reason: DropReason::StrayStun,
                });
                return;
            }
            let sends = entry
                .turn
                .handle_datagram(receive.contents, self.now, &mut self.rng);
            self.after_allocation_step(alloc, sends);
            return;
        }
        let answered = match (&mut self.probes, Message::decode(receive.contents)) {
            (Some(probes), Ok(message)) => {
                probes.handle_response(receive.source, &message, &self.turn_servers)
            }
            _ => None,
        };
        if answered.is_some() {
            self.counters.turn_probes_answered += 1;
        }
        match answered {
            Some(Some((endpoint, health))) => self.set_turn_health(endpoint, health),
            Some(None) => {}
            None => self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::StrayStun,
            }),
        }
    }

    /// An allocation's retransmission deadline.
    pub(super) fn on_allocation_timer(&mut self, alloc: AllocId) {
        let Some(entry) = self.allocations.get_mut(&alloc) else {
            return;
        };
        let sends = entry.turn.handle_timeout(self.now);
        self.counters.retransmissions += sends.len() as u64;
        self.after_allocation_step(alloc, sends);
    }

    /// A health probing round.
    pub(super) fn on_probe_timer(&mut self) {
        let Some(probes) = &mut self.probes else {
            return;
        };
        let interval = probes.policy().interval;
        let work = probes.tick(&self.turn_servers, &mut self.rng);
        for (endpoint, health) in work.changes {
            self.set_turn_health(endpoint, health);
        }
        let local = self.config.listeners()[0].address;
        for (destination, bytes) in work.requests {
            self.counters.turn_probes_sent += 1;
            self.transmit(local, destination, bytes);
        }
        self.timers.set(TimerKey::Probe, self.now + interval);
    }

    fn set_turn_health(&mut self, endpoint: EndpointId, health: Health) {
        self.turn_servers.set_health(endpoint, health);
        let Some(address) = self.turn_servers.endpoint(endpoint).map(|e| e.address) else {
            return;
        };
        self.emit(Event::TurnHealth {
            endpoint: endpoint.0,
            address,
            health,
        });
    }

    fn after_allocation_step(&mut self, alloc: AllocId, sends: Vec<Vec<u8>>) {
        let Some(entry) = self.allocations.get(&alloc) else {
            return;
        };
        let (local, server, owner) = (entry.local, entry.turn.server(), entry.owner);
        for bytes in sends {
            self.transmit(local, server, bytes);
        }
        self.schedule_allocation(alloc);
        match owner {
            Some(id) => self.with_call(id, |this, call| this.check_relays(id, call)),
            None => self.reap(alloc),
        }
    }

    fn schedule_allocation(&mut self, alloc: AllocId) {
        let next = self
            .allocations
            .get(&alloc)
            .and_then(|entry| entry.turn.poll_timeout());
        match next {
            Some(at) => self.timers.set(TimerKey::Turn(alloc), at),
            None => self.timers.cancel(TimerKey::Turn(alloc)),
        }
    }

    /// Acts once both of a call's allocations are settled: candidates and the held INVITE on
    /// success; on failure another server (failover) or the INVITE without relays.
    fn check_relays(&mut self, id: CallId, call: &mut Call) {
        let Some(media) = &call.media else {
            return;
        };
        if media.candidates.is_some() {
            return;
        }
        let state = |alloc| self.allocations.get(&alloc).map(|e| e.turn.state().clone());
        match (state(media.rtp), state(media.rtcp)) {
            (
                Some(AllocationState::Allocated {
                    relayed: rtp,
                    mapped,
                    ..
                }),
                Some(AllocationState::Allocated { relayed: rtcp, .. }),
            ) => self.relays_granted(id, call, rtp, rtcp, mapped),
            (Some(AllocationState::Failed(failure)), _)
            | (_, Some(AllocationState::Failed(failure))) => {
                self.relays_failed(id, call, describe_failure(&failure));
            }
            (None, _) | (_, None) => {
                let error = TurnError {
                    code: None,
                    reason: "allocation lost".to_owned(),
                };
                self.relays_failed(id, call, error);
            }
            _ => {}
        }
    }

    fn relays_granted(
        &mut self,
        id: CallId,
        call: &mut Call,
        rtp: SocketAddr,
        rtcp: SocketAddr,
        mapped: SocketAddr,
    ) {
        let Some(media) = &mut call.media else {
            return;
        };
        let server = match &call.turn {
            TurnDecision::Offered { server, .. } => *server,
            _ => 0,
        };
        media.candidates = Some(Candidates {
            host_rtp: media.host_rtp,
            relay_rtp: rtp,
            relay_rtcp: rtcp,
            mapped,
            server,
            ufrag: media.ufrag.clone(),
            pwd: media.pwd.clone(),
        });
        let peers = media.peers.clone();
        let lifetime = match self.allocations.get(&media.rtp).map(|e| e.turn.state()) {
            Some(AllocationState::Allocated { lifetime, .. }) => *lifetime,
            _ => LIFETIME,
        };
        let granted_by = self.allocations.get(&media.rtp).map(|e| e.turn.server());
        media.refresh_every = REFRESH_EVERY.min(lifetime / 2).max(Duration::from_secs(1));
        let refresh_every = media.refresh_every;
        let held = std::mem::take(&mut media.invite_held);
        let allocs = [media.rtp, media.rtcp];
        self.counters.turn_allocations += 2;
        if let TurnDecision::Offered {
            relay,
            address,
            redirected_to,
            ..
        } = &mut call.turn
        {
            *relay = RelayState::Allocated { rtp, rtcp, mapped };
            *redirected_to = granted_by.filter(|server| server != address);
        }
        self.emit_turn(call);
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        self.set_call_timer(id, CallTimer::TurnRefresh, refresh_every);
        for alloc in allocs {
            for peer in &peers {
                self.request_on(alloc, |turn, now, rng| {
                    turn.create_permission(*peer, now, rng)
                });
            }
        }
        if held {
            self.release_invite(call);
        }
    }

    fn relays_failed(&mut self, id: CallId, call: &mut Call, error: TurnError) {
        let Some(media) = call.media.take() else {
            return;
        };
        self.abandon(media.rtp);
        self.abandon(media.rtcp);
        self.counters.turn_failures += 1;
        let TurnDecision::Offered {
            server,
            address,
            media: media_address,
            failed_over,
            ..
        } = &call.turn
        else {
            return;
        };
        if media.invite_held && self.config.lync().turn_failover {
            let offer = self.config.lync().offer_turn_services;
            if let Ok(next) = turn::select(&self.turn_servers, offer, &media.tried, &mut self.rng) {
                let mut failed_over = failed_over.clone();
                failed_over.push(TurnAttempt {
                    server: *server,
                    address: *address,
                    media: *media_address,
                    error,
                });
                let (decision, next_media) = self.offer(
                    id,
                    media.side,
                    next,
                    media.host_rtp.ip(),
                    media.tried,
                    failed_over,
                );
                call.turn = decision;
                call.media = next_media;
                self.emit_turn(call);
                if call.media.is_none() {
                    self.release_invite(call);
                }
                return;
            }
        }
        if let TurnDecision::Offered { relay, .. } = &mut call.turn {
            *relay = RelayState::Failed(error);
        }
        self.emit_turn(call);
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        if media.invite_held {
            self.release_invite(call);
        }
    }

    /// The relays took too long: the Lync leg goes on (or fails over) without them.
    pub(super) fn on_turn_give_up(&mut self, id: CallId, call: &mut Call) {
        if call.media.as_ref().is_none_or(|m| m.candidates.is_some()) {
            return;
        }
        let wait = self.config.lync().turn_allocation_timeout;
        let error = TurnError {
            code: None,
            reason: format!(
                "no allocation from the TURN server within {} ms",
                wait.as_millis()
            ),
        };
        self.relays_failed(id, call, error);
    }

    /// Renews a call's allocations and permissions.
    pub(super) fn on_turn_refresh(&mut self, id: CallId, call: &mut Call) {
        let Some(media) = &call.media else {
            return;
        };
        let (allocs, peers) = ([media.rtp, media.rtcp], media.peers.clone());
        let every = media.refresh_every;
        for alloc in allocs {
            self.request_on(alloc, |turn, now, rng| turn.refresh(LIFETIME, now, rng));
            for peer in &peers {
                self.request_on(alloc, |turn, now, rng| {
                    turn.create_permission(*peer, now, rng)
                });
            }
        }
        self.set_call_timer(id, CallTimer::TurnRefresh, every);
    }

    /// SDP received on leg `side`: if that is the Lync leg, permissions for its addresses.
    pub(super) fn learn_lync_peers(&mut self, call: &mut Call, side: Side, body: &[u8]) {
        let Some(media) = call.media.as_mut().filter(|m| m.side == side) else {
            return;
        };
        let room = MAX_PEERS.saturating_sub(media.peers.len());
        let fresh: Vec<IpAddr> = turn::peer_addresses(body)
            .into_iter()
            .filter(|ip| !media.peers.contains(ip))
            .take(room)
            .collect();
        media.peers.extend(&fresh);
        if media.candidates.is_none() {
            return;
        }
        for alloc in [media.rtp, media.rtcp] {
            for peer in &fresh {
                self.request_on(alloc, |turn, now, rng| {
                    turn.create_permission(*peer, now, rng)
                });
            }
        }
    }

    /// The call is over: its allocations are deleted.
    pub(super) fn end_turn(&mut self, id: CallId, call: &mut Call) {
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        self.cancel_call_timer(id, CallTimer::TurnRefresh);
        if let Some(media) = call.media.take() {
            self.abandon(media.rtp);
            self.abandon(media.rtcp);
        }
        if let TurnDecision::Offered { relay, .. } = &mut call.turn
            && *relay == RelayState::Allocating
        {
            *relay = RelayState::Failed(TurnError {
                code: None,
                reason: "the call ended before the relays were granted".to_owned(),
            });
        }
    }

    fn request_on(
        &mut self,
        alloc: AllocId,
        request: impl FnOnce(
            &mut TurnAllocation,
            crate::time::Instant,
            &mut rand::rngs::StdRng,
        ) -> Vec<u8>,
    ) {
        let Some(entry) = self.allocations.get_mut(&alloc) else {
            return;
        };
        if !matches!(entry.turn.state(), AllocationState::Allocated { .. }) {
            return;
        }
        let bytes = request(&mut entry.turn, self.now, &mut self.rng);
        let (local, server) = (entry.local, entry.turn.server());
        self.transmit(local, server, bytes);
        self.schedule_allocation(alloc);
    }

    fn abandon(&mut self, alloc: AllocId) {
        if let Some(entry) = self.allocations.get_mut(&alloc) {
            entry.owner = None;
        }
        self.reap(alloc);
    }

    /// Deletes an allocation nobody needs (Refresh with lifetime 0) and forgets it once settled.
    fn reap(&mut self, alloc: AllocId) {
        let Some(entry) = self.allocations.get_mut(&alloc) else {
            return;
        };
        if entry.owner.is_some() {
            return;
        }
        match entry.turn.state() {
            AllocationState::Allocating => return,
            AllocationState::Allocated { .. } if !entry.deleting => {
                entry.deleting = true;
                let bytes = entry.turn.refresh(Duration::ZERO, self.now, &mut self.rng);
                let (local, server) = (entry.local, entry.turn.server());
                self.transmit(local, server, bytes);
                self.schedule_allocation(alloc);
                return;
            }
            AllocationState::Allocated { .. } if entry.turn.poll_timeout().is_some() => return,
            _ => {}
        }
        let Some(entry) = self.allocations.remove(&alloc) else {
            return;
        };
        self.timers.cancel(TimerKey::Turn(alloc));
        self.alloc_by_local.remove(&entry.local);
        let rtp = entry.local.port() & !1;
        let pair_gone = !self
            .alloc_by_local
            .contains_key(&SocketAddr::new(entry.local.ip(), rtp ^ 1))
            && !self
                .alloc_by_local
                .contains_key(&SocketAddr::new(entry.local.ip(), rtp));
        if pair_gone {
            self.media_ports.release(rtp);
            self.emit(Event::MediaPortsFreed {
                rtp: SocketAddr::new(entry.local.ip(), rtp),
            });
        }
    }

    /// Sends a call's held INVITE on the Lync leg, with candidates if the relays were granted.
    fn release_invite(&mut self, call: &mut Call) {
        if let Some(media) = &mut call.media {
            media.invite_held = false;
        }
        let Some(relay_id) = call.initial_relay() else {
            return;
        };
        // Candidates go on the Lync leg only: a call from Lync forwards its INVITE untouched.
        let candidates = call
            .media
            .as_ref()
            .filter(|m| m.side == Side::B)
            .and_then(|m| m.candidates.clone());
        let local = call.leg(Side::B).local;
        let Some(relay) = call.relays.get_mut(&relay_id) else {
            return;
        };
        if let Some(candidates) = candidates
            && let Some(body) = turn::add_to_sdp(&relay.client_request.body, &candidates)
        {
            relay.client_request.body = body;
        }
        let (request, peer) = (relay.client_request.clone(), relay.client_peer);
        let owner = super::Owner::Relay(call.id, relay_id);
        let client_tx = self.send_request(owner, &request, local, peer);
        if let Some(relay) = call.relays.get_mut(&relay_id) {
            relay.client_tx = client_tx;
        }
    }

    fn emit_turn(&mut self, call: &Call) {
        self.emit(Event::TurnUpdated {
            tag: call.tag.clone(),
            turn: call.turn.clone(),
        });
    }

    /// Allocations alive (allocating, granted or being deleted).
    pub fn turn_allocations(&self) -> usize {
        self.allocations.len()
    }

    /// Transmits are from listeners or from media ports this engine allocated from.
    pub fn is_media_address(&self, address: SocketAddr) -> bool {
        self.alloc_by_local.contains_key(&address)
    }
}

impl Call {
    /// Puts TwoLeg's candidates into SDP sent on leg `side` if it is the Lync leg, once relays
    /// are granted.
    pub(crate) fn offer_candidates(&self, side: Side, body: &mut Vec<u8>) {
        if body.is_empty() {
            return;
        }
        let Some(candidates) = self
            .media
            .as_ref()
            .filter(|m| m.side == side)
            .and_then(|m| m.candidates.as_ref())
        else {
            return;
        };
        if let Some(with) = turn::add_to_sdp(body, candidates) {
            *body = with;
        }
    }

    /// Whether the Lync leg's INVITE is waiting for its relays.
    pub(crate) fn invite_held(&self) -> bool {
        self.media.as_ref().is_some_and(|m| m.invite_held)
    }
}

fn describe_failure(failure: &TurnFailure) -> TurnError {
    match failure {
        TurnFailure::Error(code) => TurnError {
            code: Some(*code),
            reason: match code {
                401 => "401 Unauthorized: wrong username or password".to_owned(),
                437 => "437 Allocation Mismatch".to_owned(),
                441 => "441 Wrong Credentials".to_owned(),
                442 => "442 Unsupported Transport Protocol".to_owned(),
                486 => "486 Allocation Quota Reached".to_owned(),
                508 => "508 Insufficient Capacity".to_owned(),
                other => format!("error {other} from the TURN server"),
            },
        },
        TurnFailure::Timeout => TurnError {
            code: None,
            reason: "no answer from the TURN server (RFC 8489 retransmissions exhausted)"
                .to_owned(),
        },
        TurnFailure::TooManyRounds => TurnError {
            code: None,
            reason: "too many stale nonces or redirects".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::MediaPorts;

    #[test]
    fn media_ports_come_in_even_odd_pairs_inside_the_range() {
        let mut ports = MediaPorts::new((56_001, 56_006), 0);
        assert_eq!(ports.take(), Some(56_002));
        assert_eq!(ports.take(), Some(56_004));
        assert_eq!(ports.take(), None, "56006 has no RTCP port in the range");
        ports.release(56_002);
        assert_eq!(ports.take(), Some(56_002));
        let mut edge = MediaPorts::new((65_534, 65_535), 7);
        assert_eq!(edge.take(), Some(65_534));
        assert_eq!(edge.take(), None);
        assert_eq!(MediaPorts::new((65_535, 65_535), 7).take(), None);
        assert_eq!(MediaPorts::new((1, 1), 7).take(), None);
    }
}
