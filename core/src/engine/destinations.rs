//! A route's destinations: the order a new call tries them in (best priority first, shared by
//! weight within a priority, as RFC 2782 orders SRV targets), their health from OPTIONS pings
//! and failed calls, and failing a call over to the next one.
//!
//! A destination is down after `failures_before_down` ping rounds in a row went unanswered (a
//! round counts as missed when the next one is due, or when every ping of it failed), or at
//! once when a call's INVITE to its address timed out or could not be sent and the route pings
//! (so that a ping brings it back). A down destination is left out of new calls until it
//! answers a ping. A host name is pinged at each address it resolves to (at most
//! [`PINGED_ADDRESSES`]): one answer keeps it up. Its addresses' failures in calls fail the
//! call over but leave its health to the pings, since one SRV target down says nothing of the
//! others.

use std::net::SocketAddr;

use super::call::{Call, CancelState, RelayId};
use super::timers::{CallTimer, TimerKey};
use super::{B2bua, Owner};
use crate::config::Target;
use crate::dialog::Dialog;
use crate::dns::{Lookup, weighted_order};
use crate::engine::call::cancel_for;
use crate::event::Event;
use crate::hop::Hop;
use crate::ids;
use crate::sip::{Message, Method, NameAddr, Parsed, Request, Response, StatusCode};
use crate::status::{DestinationAttempt, DestinationStatus, Side};
use crate::time::Instant;
use crate::transaction::TxId;
use crate::turn::Health;

/// What the engine knows of one destination of one route.
#[derive(Clone, Debug, Default)]
pub(crate) struct DestinationHealth {
    down: bool,
    /// It asked (503 with Retry-After) not to get new calls before then.
    resting_until: Option<Instant>,
    missed: u32,
    /// The OPTIONS pings of the round under way still unanswered, by address.
    pings: Vec<(SocketAddr, TxId)>,
    /// The round under way, if its pings went out: whether any was answered.
    round: Option<bool>,
    /// A host name's addresses, as last resolved.
    addresses: Vec<SocketAddr>,
    /// This round's pings wait for the name's DNS answers.
    ping_awaits_dns: bool,
    pings_sent: u64,
    calls: u64,
}

/// A host name's addresses pinged in one round, at most.
pub(crate) const PINGED_ADDRESSES: usize = 8;

/// An INVITE a call left for the next destination while it was still calling.
#[derive(Debug)]
pub(crate) struct Abandoned {
    request: Request,
    hop: Hop,
    cancelled: bool,
}

/// Why a call left a destination for the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It answered 503 (RFC 3263 §4.3), with this Retry-After, in seconds, if any.
    Unavailable(Option<u32>),
    /// Nothing came back within the route's `failover_after_ms`, or before Timer B.
    NoAnswer,
    /// The host could not send to it.
    Transport,
}

impl B2bua {
    /// The health table: one entry per destination of each route, all up, and the first ping
    /// round of each route that pings now.
    pub(crate) fn start_destinations(&mut self) {
        self.destinations = self
            .config
            .routes()
            .iter()
            .map(|route| vec![DestinationHealth::default(); route.destinations.len()])
            .collect();
        for (index, route) in self.config.routes().iter().enumerate() {
            if route.ping.is_some() {
                self.timers.set(TimerKey::Ping(index), self.now);
            }
        }
    }

    /// Every destination of every route, with its health.
    pub fn destinations(&self) -> Vec<DestinationStatus> {
        let mut out = Vec::new();
        for (route, health) in self.config.routes().iter().zip(&self.destinations) {
            for (plan, state) in route.destinations.iter().zip(health) {
                out.push(DestinationStatus {
                    route: route.name.clone(),
                    address: plan.target.to_string(),
                    priority: plan.priority,
                    weight: plan.weight,
                    health: if state.down { Health::Down } else { Health::Up },
                    pings_sent: state.pings_sent,
                    missed_pings: state.missed,
                    calls: state.calls,
                });
            }
        }
        out
    }

    /// The addresses a new call on this route tries, in order: the up destinations, best
    /// priority first, each priority's in a random order weighted by weight, a host name
    /// standing for its resolved addresses (RFC 3263 order). `None` while DNS answers are
    /// awaited (the queries are out); empty when every destination is down or resolves to
    /// nothing.
    pub(crate) fn call_targets(&mut self, route_index: usize) -> Option<Vec<SocketAddr>> {
        let plans = &self.config.routes()[route_index].destinations;
        let health = &self.destinations[route_index];
        let now = self.now;
        let up: Vec<(u16, u16, usize)> = (0..plans.len())
            .filter(|&i| !health[i].down && health[i].resting_until.is_none_or(|t| now >= t))
            .map(|i| (plans[i].priority, plans[i].weight, i))
            .collect();
        let order = weighted_order(up, &mut self.rng);
        let mut out: Vec<SocketAddr> = Vec::new();
        let mut waiting = false;
        for i in order {
            match self.destination_addresses(route_index, i) {
                Some(addresses) => out.extend(addresses),
                None => waiting = true,
            }
        }
        if waiting {
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|address| seen.insert(*address));
        Some(out)
    }

    /// Where one destination of a route is: its address, or the addresses its name resolves
    /// to (remembered for health, each TLS address noted with the name its certificate must
    /// carry); `None` while the answers are awaited (the queries are out).
    fn destination_addresses(
        &mut self,
        route_index: usize,
        index: usize,
    ) -> Option<Vec<SocketAddr>> {
        let route = &self.config.routes()[route_index];
        let (host, port) = match &route.destinations[index].target {
            Target::Address(address) => return Some(vec![*address]),
            Target::Name { host, port } => (host.clone(), *port),
        };
        let listener = &self.config.listeners()[route.listener];
        let (transport, ipv6) = (listener.transport, listener.address.is_ipv6());
        let name = route
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let lookup = self
            .resolver
            .lookup(&host, port, transport, ipv6, self.now, &mut self.rng);
        let queries = self.resolver.take_queries();
        self.ask(queries);
        let Lookup::Ready(addresses) = lookup else {
            return None;
        };
        for address in &addresses {
            self.note_server_name(transport, *address, &name);
        }
        self.destinations[route_index][index].addresses = addresses.clone();
        Some(addresses)
    }

    /// A call's INVITE goes to `address`: counted, and listed in the call's attempts.
    pub(crate) fn note_attempt(&mut self, call: &mut Call, address: SocketAddr) {
        let route_index = call.route_index;
        let index = self.destination_index(route_index, address).or_else(|| {
            self.destinations[route_index]
                .iter()
                .position(|state| state.addresses.contains(&address))
        });
        if let Some(index) = index {
            self.destinations[call.route_index][index].calls += 1;
        }
        call.attempts.push(DestinationAttempt {
            address,
            failed: None,
        });
    }

    /// Arms the wait for a first response from the destination the initial INVITE just went
    /// to, when the route says how long and another destination is left.
    pub(crate) fn arm_failover(&mut self, call: &Call, relay_id: RelayId) {
        let after = self.config.routes()[call.route_index].failover_after;
        if let Some(after) = after.filter(|_| !call.targets.is_empty()) {
            self.set_call_timer(call.id, CallTimer::Failover(relay_id), after);
        }
    }

    /// The initial INVITE failed at its destination: it goes to the next one (a new
    /// transaction, the next CSeq, leg B's Call-ID and tag kept). Whether it went: not when
    /// the call is being cancelled, a callee already set up an early dialog, or no
    /// destination is left.
    pub(crate) fn fail_over(
        &mut self,
        call: &mut Call,
        relay_id: RelayId,
        failure: Failure,
    ) -> bool {
        let id = call.id;
        let Some(relay) = call.relays.get(&relay_id) else {
            return false;
        };
        let failed_at = relay.client_hop.peer;
        let what = match failure {
            Failure::Unavailable(_) => "503 Service Unavailable".to_owned(),
            Failure::NoAnswer => match self.config.routes()[call.route_index].failover_after {
                Some(after) => format!("no answer in {} ms", after.as_millis()),
                None => "no answer (Timer B)".to_owned(),
            },
            Failure::Transport => "transport error".to_owned(),
        };
        // Only leg B's first INVITE says something of a destination's health (a BYE or
        // re-INVITE to a peer that went away does not).
        let first_invite = relay.initial && relay.server_side == Side::A;
        match failure {
            Failure::Unavailable(Some(seconds)) if first_invite => {
                self.destination_rests(call.route_index, failed_at, seconds);
            }
            Failure::Unavailable(_) => {}
            Failure::NoAnswer | Failure::Transport if first_invite => {
                self.destination_failed(call.route_index, failed_at);
            }
            Failure::NoAnswer | Failure::Transport => {}
        }
        let early = call.leg(Side::B).dialog.remote_tag.is_some() || !call.forks.is_empty();
        if !relay.initial || relay.cancel != CancelState::None || early || call.targets.is_empty() {
            return false;
        }
        if let Some(last) = call.attempts.last_mut() {
            last.failed = Some(what);
        }
        let next = call.targets.remove(0);
        let old_tx = relay.client_tx;
        let request = relay.client_request.clone();
        let hop = Hop {
            peer: next,
            connection: None,
            ..relay.client_hop
        };
        // The old transaction may still be calling (no answer yet): it runs on, owned by no
        // call; should it ring, it is cancelled, should it answer, it is ACKed and hung up.
        if failure == Failure::NoAnswer {
            let serial = self.next_id();
            self.abandoned.insert(
                serial,
                Abandoned {
                    request: request.clone(),
                    hop: relay.client_hop,
                    cancelled: false,
                },
            );
            self.set_owner(old_tx, Owner::Abandoned(serial));
        }
        self.cancel_call_timer(id, CallTimer::Failover(relay_id));
        let leg = call.leg_mut(Side::B);
        leg.hop.peer = next;
        leg.hop.connection = None;
        self.reissue_initial(call, relay_id, hop, request);
        self.note_attempt(call, next);
        self.arm_failover(call, relay_id);
        true
    }

    /// A response to an INVITE a call failed over from: a provisional gets it cancelled
    /// (RFC 3261 §9.1), a 2xx is ACKed and hung up; a final response ends it.
    pub(crate) fn on_abandoned_response(&mut self, serial: u64, hop: Hop, parsed: &Parsed) {
        let Message::Response(response) = &parsed.message else {
            return;
        };
        if response.status.is_success() {
            self.abandoned.remove(&serial);
            self.ack_and_bye_orphan(hop, parsed);
            return;
        }
        if !response.status.is_provisional() {
            self.abandoned.remove(&serial);
            return;
        }
        let Some(abandoned) = self.abandoned.get_mut(&serial) else {
            return;
        };
        if abandoned.cancelled {
            return;
        }
        abandoned.cancelled = true;
        let cancel = cancel_for(&abandoned.request, &[]);
        let hop = abandoned.hop;
        let _ = self.send_request(Owner::Engine, &cancel, hop);
    }

    /// An abandoned INVITE timed out or could not be sent.
    pub(crate) fn on_abandoned_lost(&mut self, serial: u64) {
        self.abandoned.remove(&serial);
    }

    /// A destination answered 503 with Retry-After (RFC 3261 §21.5.4, RFC 3263 §4.3): new
    /// calls leave it alone that long (at most an hour).
    fn destination_rests(&mut self, route_index: usize, address: SocketAddr, seconds: u32) {
        if let Some(index) = self.destination_index(route_index, address) {
            let until = self.now + std::time::Duration::from_secs(u64::from(seconds.min(3_600)));
            self.destinations[route_index][index].resting_until = Some(until);
        }
    }

    /// A call's INVITE to this destination timed out or could not be sent: on a route that
    /// pings, it is down until a ping is answered.
    fn destination_failed(&mut self, route_index: usize, address: SocketAddr) {
        if self.config.routes()[route_index].ping.is_none() {
            return;
        }
        if let Some(index) = self.destination_index(route_index, address) {
            self.set_destination_health(route_index, index, true);
        }
    }

    fn destination_index(&self, route_index: usize, address: SocketAddr) -> Option<usize> {
        self.config.routes()[route_index]
            .destinations
            .iter()
            .position(|d| d.target.address() == Some(address))
    }

    /// A ping round of one route: a destination whose last round went unanswered missed it,
    /// then each gets new OPTIONS (a host name at each of its addresses, once resolved).
    pub(crate) fn on_ping_timer(&mut self, route_index: usize) {
        let Some(policy) = self.config.routes()[route_index].ping else {
            return;
        };
        for index in 0..self.destinations[route_index].len() {
            let state = &mut self.destinations[route_index][index];
            let unanswered = state.round == Some(false);
            state.round = None;
            for (_, old) in std::mem::take(&mut state.pings) {
                self.forget_tx(old);
            }
            if unanswered {
                self.ping_missed(route_index, index, policy.failures_before_down);
            }
            self.ping_destination(route_index, index);
        }
        self.timers
            .set(TimerKey::Ping(route_index), self.now + policy.interval);
    }

    /// After a DNS answer: the destinations whose ping round waited for their names.
    pub(crate) fn ping_resolved_names(&mut self) {
        for route_index in 0..self.destinations.len() {
            for index in 0..self.destinations[route_index].len() {
                if self.destinations[route_index][index].ping_awaits_dns {
                    self.ping_destination(route_index, index);
                }
            }
        }
    }

    /// This round's OPTIONS to one destination: to its address, or to each address its name
    /// resolves to (a name still being resolved waits for the answers).
    fn ping_destination(&mut self, route_index: usize, index: usize) {
        let route = &self.config.routes()[route_index];
        let Some(policy) = route.ping else {
            return;
        };
        let listener = &self.config.listeners()[route.listener];
        let (transport, local) = (listener.transport, listener.address);
        let Some(addresses) = self.destination_addresses(route_index, index) else {
            self.destinations[route_index][index].ping_awaits_dns = true;
            return;
        };
        self.destinations[route_index][index].ping_awaits_dns = false;
        if addresses.is_empty() {
            self.ping_missed(route_index, index, policy.failures_before_down);
        }
        for address in addresses.into_iter().take(PINGED_ADDRESSES) {
            let tx = self.send_ping(route_index, index, transport, local, address);
            let state = &mut self.destinations[route_index][index];
            state.pings.push((address, tx));
            state.pings_sent += 1;
            state.round = Some(false);
        }
    }

    fn send_ping(
        &mut self,
        route_index: usize,
        index: usize,
        transport: crate::Transport,
        local: SocketAddr,
        address: SocketAddr,
    ) -> TxId {
        let hop = Hop {
            transport,
            local,
            peer: address,
            connection: None,
            awaiting: None,
        };
        let target = format!("sip:{address}");
        let mut dialog = Dialog {
            call_id: ids::call_id(&mut self.rng, &local.ip().to_string()),
            local_tag: ids::tag(&mut self.rng),
            remote_tag: None,
            local_party: NameAddr::parse(&format!("<sip:ping@{local}>"))
                .expect("a SIP URI with an IP address parses"),
            remote_party: NameAddr::parse(&format!("<{target}>"))
                .expect("a SIP URI with an IP address parses"),
            local_cseq: 0,
            remote_cseq: None,
            route_set: Vec::new(),
            remote_target: target,
            contact: crate::hop::contact_uri(transport, local),
        };
        let options = dialog.request(Method::OPTIONS, None, &hop, 70, &mut self.rng);
        self.send_request(Owner::Ping(route_index, index), &options, hop)
    }

    /// A ping's final response from `peer` (any but 408 and 503 says the destination is
    /// alive), or its loss.
    pub(crate) fn on_ping_news(
        &mut self,
        route_index: usize,
        index: usize,
        peer: SocketAddr,
        response: Option<&Response>,
    ) {
        let Some(state) = self
            .destinations
            .get_mut(route_index)
            .and_then(|route| route.get_mut(index))
        else {
            return;
        };
        let Some(at) = state.pings.iter().position(|(address, _)| *address == peer) else {
            return;
        };
        if response.is_some_and(|r| r.status.code() < 200) {
            return;
        }
        state.pings.remove(at);
        let alive = response.is_some_and(|r| {
            r.status != StatusCode::REQUEST_TIMEOUT && r.status != StatusCode::SERVICE_UNAVAILABLE
        });
        if alive {
            state.round = Some(true);
            state.missed = 0;
            if state.down {
                self.set_destination_health(route_index, index, false);
            }
        } else if state.pings.is_empty() && state.round == Some(false) {
            state.round = None;
            let threshold = self.config.routes()[route_index]
                .ping
                .map_or(1, |policy| policy.failures_before_down);
            self.ping_missed(route_index, index, threshold);
        }
    }

    fn ping_missed(&mut self, route_index: usize, index: usize, threshold: u32) {
        let state = &mut self.destinations[route_index][index];
        state.missed += 1;
        if state.missed >= threshold && !state.down {
            self.set_destination_health(route_index, index, true);
        }
    }

    fn set_destination_health(&mut self, route_index: usize, index: usize, down: bool) {
        let state = &mut self.destinations[route_index][index];
        if state.down == down {
            return;
        }
        state.down = down;
        let route = &self.config.routes()[route_index];
        let health = if down { Health::Down } else { Health::Up };
        self.emit(Event::DestinationHealth {
            route: route.name.clone(),
            destination: route.destinations[index].target.to_string(),
            health,
        });
    }
}
