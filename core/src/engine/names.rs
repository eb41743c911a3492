//! Host names in dialogs. A Route or Contact URI whose host is a name (a proxy's or a Lync
//! pool's FQDN) is resolved as RFC 3263 §4 says before an in-dialog request goes to it, through
//! the same resolver and cache as route destinations. A message for a name not yet resolved
//! is held (its transaction's timers run meanwhile, so the wait counts against Timer B/F) and
//! goes out when the answer is in. A name with no address, or whose lookup failed, leaves the
//! message to go where the leg's INVITE came from or went to, as for any URI TwoLeg cannot use.
//!
//! A name from a peer's Contact or Record-Route never decides which certificate name TwoLeg
//! expects of a TLS peer (a caller could otherwise point a name of its own at a trunk's address
//! and have TwoLeg accept that name from it): only routes' names and `tls_server_name` do; an
//! in-dialog request normally goes on the connection the dialog already has.
//!
//! Responses never need a name: TwoLeg adds `received` to every request's Via whose sent-by is
//! not the address the request came from (RFC 3261 §18.2.1), and answers there.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::B2bua;
use super::call::Call;
use crate::Transport;
use crate::dialog::{Dialog, NamedPeer};
use crate::dns::Lookup;
use crate::hop::Hop;
use crate::status::Side;
use crate::time::Instant;

/// Messages held for one name, at most: more is a peer misbehaving, and is dropped.
const HELD_PER_NAME: usize = 64;

/// Names being resolved for hops in dialogs, and where recent ones went.
#[derive(Debug, Default)]
pub(crate) struct Names {
    waits: BTreeMap<u64, NameWait>,
    /// Finished waits: the address their messages went to, and when, for copies of their hops
    /// kept elsewhere (an ACK sent again for a 2xx retransmission). Kept for 64·T1.
    settled: BTreeMap<u64, (SocketAddr, Instant)>,
    next_id: u64,
}

/// One name being resolved, and the messages waiting for it.
#[derive(Debug)]
struct NameWait {
    host: String,
    port: Option<u16>,
    transport: Transport,
    ipv6: bool,
    held: Vec<(Hop, Vec<u8>)>,
}

impl Names {
    /// Whether messages are waiting for names.
    pub(crate) fn is_empty(&self) -> bool {
        self.waits.is_empty()
    }
}

impl B2bua {
    /// Where a call leg's next in-dialog request goes (see [`Dialog::next_hop`]), its host
    /// name resolved or being resolved.
    pub(crate) fn leg_hop(&mut self, call: &Call, side: Side) -> Hop {
        let leg = call.leg(side);
        self.dialog_hop(&leg.dialog, &leg.hop)
    }

    /// Where `dialog`'s next request goes, `fallback` being the hop its INVITE took.
    pub(crate) fn dialog_hop(&mut self, dialog: &Dialog, fallback: &Hop) -> Hop {
        let locals: Vec<(Transport, SocketAddr)> = self
            .config
            .listeners()
            .iter()
            .filter(|l| l.address.ip() == fallback.local.ip())
            .map(|l| (l.transport, l.address))
            .collect();
        let local_for = |transport: Transport| {
            locals
                .iter()
                .find(|(t, _)| *t == transport)
                .map(|(_, address)| *address)
        };
        let ipv6 = fallback.local.is_ipv6();
        dialog.next_hop(fallback, local_for, |host, port, transport| {
            self.peer_of_name(host, port, transport, ipv6)
        })
    }

    fn peer_of_name(
        &mut self,
        host: &str,
        port: Option<u16>,
        transport: Transport,
        ipv6: bool,
    ) -> NamedPeer {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let lookup = self
            .resolver
            .lookup(&host, port, transport, ipv6, self.now, &mut self.rng);
        let queries = self.resolver.take_queries();
        self.ask(queries);
        match lookup {
            Lookup::Ready(addresses) => match addresses.first() {
                Some(address) => NamedPeer::Known(*address),
                None => NamedPeer::Unknown,
            },
            Lookup::Waiting => {
                let names = &mut self.names;
                let same = names.waits.iter().find(|(_, wait)| {
                    wait.host == host
                        && wait.port == port
                        && wait.transport == transport
                        && wait.ipv6 == ipv6
                });
                if let Some((id, _)) = same {
                    return NamedPeer::Awaiting(*id);
                }
                names.next_id += 1;
                let id = names.next_id;
                names.waits.insert(
                    id,
                    NameWait {
                        host,
                        port,
                        transport,
                        ipv6,
                        held: Vec::new(),
                    },
                );
                NamedPeer::Awaiting(id)
            }
        }
    }

    /// A message for a hop whose name is being resolved: held (once: a retransmission of a
    /// message already held is not held again). Returns the hop to send on now, if any: the
    /// address a finished wait found.
    pub(crate) fn hold_for_name(&mut self, hop: &Hop, contents: Vec<u8>) -> Option<(Hop, Vec<u8>)> {
        let id = hop.awaiting?;
        if let Some(wait) = self.names.waits.get_mut(&id) {
            if wait.held.len() < HELD_PER_NAME && !wait.held.iter().any(|(_, c)| *c == contents) {
                wait.held.push((*hop, contents));
            }
            return None;
        }
        let peer = self
            .names
            .settled
            .get(&id)
            .map_or(hop.peer, |(peer, _)| *peer);
        let hop = Hop {
            peer,
            awaiting: None,
            ..*hop
        };
        Some((hop, contents))
    }

    /// After a DNS answer or a query given up: every wait whose name is now known sends its
    /// messages, and its transactions go on to that address.
    pub(crate) fn settle_names(&mut self) {
        let ids: Vec<u64> = self.names.waits.keys().copied().collect();
        for id in ids {
            let wait = &self.names.waits[&id];
            let (host, port, transport, ipv6) =
                (wait.host.clone(), wait.port, wait.transport, wait.ipv6);
            let lookup =
                self.resolver
                    .lookup(&host, port, transport, ipv6, self.now, &mut self.rng);
            let Lookup::Ready(addresses) = lookup else {
                continue;
            };
            let wait = self.names.waits.remove(&id).expect("listed above");
            let peer = addresses.first().copied();
            let settle = |hop: &Hop| Hop {
                peer: peer.unwrap_or(hop.peer),
                awaiting: None,
                ..*hop
            };
            for entry in self.txs.values_mut() {
                if entry.tx.hop.awaiting == Some(id) {
                    entry.tx.hop = settle(&entry.tx.hop);
                }
            }
            let fallback = wait.held.first().map(|(hop, _)| hop.peer);
            if let Some(address) = peer.or(fallback) {
                self.names.settled.insert(id, (address, self.now));
            }
            for (hop, contents) in wait.held {
                self.transmit(&settle(&hop), contents);
            }
        }
        let queries = self.resolver.take_queries();
        self.ask(queries);
        let keep = self.timing.t1x64();
        let now = self.now;
        self.names
            .settled
            .retain(|_, (_, since)| now.saturating_since(*since) < keep);
    }
}
