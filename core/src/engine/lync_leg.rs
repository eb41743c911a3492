//! TURN relays for the Lync leg of a call (Expressway's "Offer TURN services"): pick a server,
//! allocate an RTP and an RTCP relay on it from a pair of media ports, hold the Lync leg's
//! INVITE until both are granted (or failed, or the wait runs out), put host and relay
//! candidates in the SDP sent on that leg, open permissions for the far side's addresses,
//! refresh while the call lives and delete the allocations when it ends.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::call::{Call, CallId};
use super::timers::CallTimer;
use super::{B2bua, Owner};
use crate::Transport;
use crate::config::Target;
use crate::dns::Lookup;
use crate::event::Event;
use crate::hop::Hop;
use crate::ids;
use crate::status::{RelayState, Side, TurnAttempt, TurnDecision, TurnError};
use crate::turn::{self, AllocId, AllocationState, Candidates, EndpointId};

/// Allocations live 600 s; permissions 300 s: both are renewed every 240 s (sooner if the server
/// granted a shorter lifetime).
const REFRESH_EVERY: Duration = Duration::from_secs(240);
const LIFETIME: Duration = Duration::from_secs(600);
/// Far-side addresses given permissions, at most (an SDP listing thousands must not turn into
/// thousands of CreatePermission requests).
const MAX_PEERS: usize = 16;

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

impl B2bua {
    /// The TURN decision for a new call with a Lync leg, starting its allocations when a server
    /// is offered. The media address is on the IP of the Lync leg's listener.
    pub(crate) fn begin_turn(
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
    pub(crate) fn comes_from_lync(&mut self, source: SocketAddr) -> bool {
        let lync = self.config.lync();
        if !lync.enabled {
            return false;
        }
        match &lync.signalling_destination {
            None => false,
            Some(Target::Address(address)) => address.ip() == source.ip(),
            Some(Target::Name { .. }) => {
                self.refresh_lync_addresses();
                self.lync_addresses.contains(&source.ip())
            }
        }
    }

    /// A Lync signalling destination given by name: its addresses looked up again (from the
    /// cache while its records live; the queries go out when they expired). The addresses last
    /// found stay in use while new answers are awaited.
    pub(crate) fn refresh_lync_addresses(&mut self) {
        let lync = self.config.lync();
        let Some(Target::Name { host, port }) = lync.signalling_destination.clone() else {
            return;
        };
        if !lync.enabled {
            return;
        }
        // The address family of TwoLeg's own listeners (a TLS one first).
        let listeners = self.config.listeners();
        let ipv6 = listeners
            .iter()
            .find(|l| l.transport == Transport::Tls)
            .or_else(|| listeners.first())
            .is_some_and(|l| l.address.is_ipv6());
        let lookup =
            self.resolver
                .lookup(&host, port, Transport::Tls, ipv6, self.now, &mut self.rng);
        let queries = self.resolver.take_queries();
        self.ask(queries);
        // No address (no records, or a failed lookup) keeps the last ones known.
        if let Lookup::Ready(addresses) = lookup
            && !addresses.is_empty()
        {
            self.lync_addresses = addresses.iter().map(SocketAddr::ip).collect();
        }
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
        self.emit(Event::MediaPortsOpened { rtp: host_rtp });
        let credentials = (chosen.username.as_str(), chosen.password.expose());
        let [rtp, rtcp] = [host_rtp, SocketAddr::new(media_ip, port + 1)].map(|local| {
            self.allocations.start(
                id,
                local,
                chosen.address,
                credentials,
                self.now,
                &mut self.rng,
            )
        });
        self.flush_allocations();
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

    /// One of a call's allocations moved.
    pub(crate) fn on_allocation_step(&mut self, id: CallId) {
        self.with_call(id, |this, call| this.check_relays(call));
    }

    /// Sends what the allocations queued, frees the media ports they are done with and keeps
    /// their deadline in the timer table. Called after every change to the allocations.
    pub(crate) fn flush_allocations(&mut self) {
        while let Some(transmit) = self.allocations.poll_transmit() {
            if transmit.retransmission {
                self.counters.retransmissions += 1;
            }
            self.transmit(
                &Hop::udp(transmit.local, transmit.server),
                transmit.contents,
            );
        }
        while let Some(rtp) = self.allocations.poll_freed() {
            self.media_ports.release(rtp.port());
            self.emit(Event::MediaPortsFreed { rtp });
        }
        match self.allocations.poll_timeout() {
            Some(at) => self.timers.set(super::TimerKey::TurnAllocations, at),
            None => self.timers.cancel(super::TimerKey::TurnAllocations),
        }
    }

    /// Acts once both of a call's allocations are settled: candidates and the held INVITE on
    /// success; on failure another server (failover) or the INVITE without relays.
    fn check_relays(&mut self, call: &mut Call) {
        let Some(media) = &call.media else {
            return;
        };
        if media.candidates.is_some() {
            return;
        }
        let state = |alloc| self.allocations.state(alloc).cloned();
        match (state(media.rtp), state(media.rtcp)) {
            (
                Some(AllocationState::Allocated {
                    relayed: rtp,
                    mapped,
                    lifetime,
                }),
                Some(AllocationState::Allocated { relayed: rtcp, .. }),
            ) => self.relays_granted(call, [rtp, rtcp], mapped, lifetime),
            (Some(AllocationState::Failed(failure)), _)
            | (_, Some(AllocationState::Failed(failure))) => {
                self.relays_failed(call, TurnError::from(&failure));
            }
            (None, _) | (_, None) => {
                let error = TurnError {
                    code: None,
                    reason: "allocation lost".to_owned(),
                };
                self.relays_failed(call, error);
            }
            _ => {}
        }
    }

    fn relays_granted(
        &mut self,
        call: &mut Call,
        [rtp, rtcp]: [SocketAddr; 2],
        mapped: SocketAddr,
        lifetime: Duration,
    ) {
        let id = call.id;
        let TurnDecision::Offered {
            server,
            relay,
            address,
            redirected_to,
            ..
        } = &mut call.turn
        else {
            unreachable!("a call allocates relays only once a server is offered");
        };
        let media = call
            .media
            .as_mut()
            .expect("checked by check_relays, its only caller");
        media.candidates = Some(Candidates {
            host_rtp: media.host_rtp,
            relay_rtp: rtp,
            relay_rtcp: rtcp,
            mapped,
            server: *server,
            ufrag: media.ufrag.clone(),
            pwd: media.pwd.clone(),
        });
        *relay = RelayState::Allocated { rtp, rtcp, mapped };
        *redirected_to = self
            .allocations
            .server(media.rtp)
            .filter(|server| server != address);
        media.refresh_every = REFRESH_EVERY.min(lifetime / 2).max(Duration::from_secs(1));
        let refresh_every = media.refresh_every;
        let held = std::mem::take(&mut media.invite_held);
        let (allocs, peers) = ([media.rtp, media.rtcp], media.peers.clone());
        self.counters.turn_relays_granted += 2;
        self.emit_turn(call);
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        self.set_call_timer(id, CallTimer::TurnRefresh, refresh_every);
        for alloc in allocs {
            for peer in &peers {
                self.allocations
                    .permit(alloc, *peer, self.now, &mut self.rng);
            }
        }
        self.flush_allocations();
        if held {
            self.release_invite(call);
        }
    }

    fn relays_failed(&mut self, call: &mut Call, error: TurnError) {
        let id = call.id;
        let Some(media) = call.media.take() else {
            return;
        };
        self.abandon_relays(&media);
        self.counters.turn_failures += 1;
        let TurnDecision::Offered {
            server,
            address,
            media: media_address,
            failed_over,
            ..
        } = &call.turn
        else {
            unreachable!("a call allocates relays only once a server is offered");
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
                self.follow_turn_port(call);
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
        if media.invite_held {
            self.follow_turn_port(call);
        }
        self.emit_turn(call);
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        if media.invite_held {
            self.release_invite(call);
        }
    }

    /// The relays took too long: the Lync leg goes on (or fails over) without them.
    pub(crate) fn on_turn_give_up(&mut self, call: &mut Call) {
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
        self.relays_failed(call, error);
    }

    /// Renews a call's allocations and permissions.
    pub(crate) fn on_turn_refresh(&mut self, call: &mut Call) {
        let Some(media) = &call.media else {
            return;
        };
        for alloc in [media.rtp, media.rtcp] {
            self.allocations
                .refresh(alloc, LIFETIME, self.now, &mut self.rng);
            for peer in &media.peers {
                self.allocations
                    .permit(alloc, *peer, self.now, &mut self.rng);
            }
        }
        self.flush_allocations();
        self.set_call_timer(call.id, CallTimer::TurnRefresh, media.refresh_every);
    }

    /// SDP received on leg `side`: if that is the Lync leg, permissions for its addresses.
    pub(crate) fn learn_lync_peers(&mut self, call: &mut Call, side: Side, body: &[u8]) {
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
                self.allocations
                    .permit(alloc, *peer, self.now, &mut self.rng);
            }
        }
        self.flush_allocations();
    }

    /// The call is over: its allocations are deleted.
    pub(crate) fn end_turn(&mut self, call: &mut Call) {
        self.cancel_call_timer(call.id, CallTimer::TurnGiveUp);
        self.cancel_call_timer(call.id, CallTimer::TurnRefresh);
        if let Some(media) = call.media.take() {
            self.abandon_relays(&media);
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

    /// A call that never was (refused while its relays were starting): its allocations go.
    pub(crate) fn drop_turn(&mut self, id: CallId, media: &LyncMedia) {
        self.cancel_call_timer(id, CallTimer::TurnGiveUp);
        self.abandon_relays(media);
    }

    /// The anchored media of the Lync leg follows its TURN allocations to another port pair
    /// (failover) or to a pair of its own (no relays): the held INVITE's offer says so.
    fn follow_turn_port(&mut self, call: &mut Call) {
        let port = call.media.as_ref().map(LyncMedia::port);
        let Some(anchor) = call.anchor.as_mut() else {
            return;
        };
        let Some(body) = self.repoint_turn_port(anchor, port) else {
            return;
        };
        if let Some(relay_id) = call.initial_relay()
            && let Some(relay) = call.relays.get_mut(&relay_id)
        {
            relay.client_request.body = body;
        }
    }

    fn abandon_relays(&mut self, media: &LyncMedia) {
        for alloc in [media.rtp, media.rtcp] {
            self.allocations.abandon(alloc, self.now, &mut self.rng);
        }
        self.flush_allocations();
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
        let id = call.id;
        let relay = call
            .relays
            .get_mut(&relay_id)
            .expect("initial_relay names a relay of this call");
        if let Some(candidates) = candidates
            && let Some(body) = turn::add_to_sdp(&relay.client_request.body, &candidates)
        {
            relay.client_request.body = body;
        }
        let (mut request, hop) = (relay.client_request.clone(), relay.client_hop);
        let large_over = call.leg(Side::B).large_over;
        let (client_tx, hop) =
            self.send_fitting(Owner::Relay(id, relay_id), &mut request, hop, large_over);
        if let Some(relay) = call.relays.get_mut(&relay_id) {
            relay.client_tx = client_tx;
            relay.client_hop = hop;
            relay.client_request = request;
        }
        self.arm_failover(call, relay_id);
    }

    fn emit_turn(&mut self, call: &Call) {
        self.emit(Event::TurnUpdated {
            tag: call.tag.clone(),
            turn: call.turn.clone(),
        });
    }
}

impl LyncMedia {
    /// The RTP port of the allocations' port pair.
    pub(crate) fn port(&self) -> u16 {
        self.host_rtp.port()
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
