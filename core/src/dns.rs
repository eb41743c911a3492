//! Host names resolved as RFC 3263 says, sans-IO: the engine asks with [`Event::Resolve`]
//! (one [`DnsQuery`]: a name and a record type) and the host answers with
//! [`Input::Resolved`] (a [`DnsAnswer`]: the records, none when the name has no such records,
//! or a failure). Answers are cached for their TTL; the engine never blocks and, given the same
//! answers, decides the same way on every host.
//!
//! A destination `host:port` is looked up as A (AAAA on an IPv6 listener). A bare `host` goes
//! through RFC 3263 §4: NAPTR for the route's transport (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`),
//! else the transport's SRV name (`_sip._udp`, `_sip._tcp`, `_sips._tcp`); its SRV targets in
//! priority order, shared by weight (RFC 2782), each looked up as A; no SRV: the host's A
//! records on 5060 (5061 for TLS).
//!
//! [`Event::Resolve`]: crate::Event::Resolve
//! [`Input::Resolved`]: crate::Input::Resolved

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::Transport;
use crate::time::Instant;

/// A lookup the engine asks its host for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsQuery {
    /// Names the answer ([`DnsAnswer::id`]).
    pub id: u64,
    /// The name, without a trailing dot.
    pub name: String,
    /// The record type.
    pub kind: RecordKind,
}

/// The record types RFC 3263 uses.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Naming authority pointers (RFC 3403).
    Naptr,
    /// Service records (RFC 2782).
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

/// The host's answer to a [`DnsQuery`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsAnswer {
    /// The query's id.
    pub id: u64,
    /// The records of the asked type (empty: none, or the lookup failed).
    pub records: Vec<DnsRecord>,
    /// With no records: how long, in seconds, to remember that (the zone's negative TTL; a
    /// failed lookup: a few seconds).
    pub negative_ttl_s: u32,
    /// The lookup failed (no server answered, or one answered SERVFAIL or REFUSED): nothing
    /// is known of the name, which is not the same as its having no such records. A failed
    /// SRV lookup does not fall back to the name's A records (RFC 3263 §4.2 falls back only
    /// when no SRV records were found).
    #[serde(default)]
    pub failed: bool,
}

/// One record of an answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsRecord {
    /// Its time to live, in seconds.
    pub ttl_s: u32,
    /// Its data.
    pub data: RecordData,
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordData {
    /// A NAPTR record.
    Naptr {
        /// Lower first.
        order: u16,
        /// Lower first among the same order.
        preference: u16,
        /// `s`: the replacement is an SRV name.
        flags: String,
        /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, ...
        service: String,
        /// The SRV name to look up.
        replacement: String,
    },
    /// An SRV record.
    Srv {
        /// Lower first.
        priority: u16,
        /// Share among the same priority.
        weight: u16,
        /// The port.
        port: u16,
        /// The host to look up (`.`: no service).
        target: String,
    },
    /// An A or AAAA record.
    Address(IpAddr),
}

/// How long a lookup may take before it counts as failed.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a failed lookup is remembered at most.
const FAILED_TTL: Duration = Duration::from_secs(5);

/// An answer is usable at least this long, whatever its TTL (0 included): long enough for
/// the lookups that follow it in one resolution (NAPTR, SRV, A) to come back, so that a
/// TTL of 0 cannot keep a resolution asking forever.
const MIN_TTL: Duration = Duration::from_secs(1);

/// A negative answer (no such name or records) is remembered at most this long.
const MAX_NEGATIVE_TTL: u32 = 300;

/// What a lookup came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The addresses, in the order to try them (possibly none).
    Ready(Vec<SocketAddr>),
    /// Some answers are not in yet: the queries to send went into the list given.
    Waiting,
}

#[derive(Debug)]
struct Cached {
    records: Vec<RecordData>,
    /// The lookup failed (see [`DnsAnswer::failed`]).
    failed: bool,
    /// Usable up to and including this time.
    until: Instant,
}

/// The cache and the queries in flight.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    cache: BTreeMap<(String, RecordKind), Cached>,
    in_flight: BTreeMap<u64, (String, RecordKind)>,
    asked: BTreeSet<(String, RecordKind)>,
    /// Queries to send, until taken.
    outbox: Vec<DnsQuery>,
    next_id: u64,
}

impl Resolver {
    /// Whether any query is still waiting for its answer.
    pub(crate) fn is_waiting(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The queries to send, since the last call.
    pub(crate) fn take_queries(&mut self) -> Vec<DnsQuery> {
        std::mem::take(&mut self.outbox)
    }

    /// The addresses of `host` for a route over `transport` (`port` given: A records only),
    /// when everything needed is cached; else `Waiting`, with the queries to send in
    /// [`Self::take_queries`].
    pub(crate) fn lookup(
        &mut self,
        host: &str,
        port: Option<u16>,
        transport: Transport,
        ipv6: bool,
        now: Instant,
        rng: &mut ChaCha8Rng,
    ) -> Lookup {
        let address_kind = if ipv6 {
            RecordKind::Aaaa
        } else {
            RecordKind::A
        };
        if let Some(port) = port {
            let Some((addresses, _)) = self.get(host, address_kind, now) else {
                return Lookup::Waiting;
            };
            return Lookup::Ready(with_port(&addresses, port));
        }
        // A failed NAPTR lookup leaves the transport's SRV name, as no NAPTR records would.
        let Some((naptr, _)) = self.get(host, RecordKind::Naptr, now) else {
            return Lookup::Waiting;
        };
        let service = match transport {
            Transport::Udp => "SIP+D2U",
            Transport::Tcp => "SIP+D2T",
            Transport::Tls => "SIPS+D2T",
        };
        let mut pointers: Vec<(u16, u16, &str)> = naptr
            .iter()
            .filter_map(|record| match record {
                RecordData::Naptr {
                    order,
                    preference,
                    flags,
                    service: offered,
                    replacement,
                } if flags.eq_ignore_ascii_case("s") && offered.eq_ignore_ascii_case(service) => {
                    Some((*order, *preference, replacement.as_str()))
                }
                _ => None,
            })
            .collect();
        pointers.sort();
        let srv_name = match pointers.first() {
            Some((_, _, replacement)) => replacement.trim_end_matches('.').to_owned(),
            None => match transport {
                Transport::Udp => format!("_sip._udp.{host}"),
                Transport::Tcp => format!("_sip._tcp.{host}"),
                Transport::Tls => format!("_sips._tcp.{host}"),
            },
        };
        let Some((srv, srv_failed)) = self.get(&srv_name, RecordKind::Srv, now) else {
            return Lookup::Waiting;
        };
        if srv_failed {
            return Lookup::Ready(Vec::new());
        }
        let targets: Vec<(u16, u16, (u16, String))> = srv
            .iter()
            .filter_map(|record| match record {
                RecordData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                } if target != "." && !target.is_empty() => Some((
                    *priority,
                    *weight,
                    (*port, target.trim_end_matches('.').to_owned()),
                )),
                _ => None,
            })
            .collect();
        // RFC 2782: a lone target "." says the service is decidedly not available here.
        let refused = srv.iter().any(
            |record| matches!(record, RecordData::Srv { target, .. } if target == "." || target.is_empty()),
        );
        if targets.is_empty() && refused {
            return Lookup::Ready(Vec::new());
        }
        if targets.is_empty() {
            let default_port = if transport == Transport::Tls {
                5061
            } else {
                5060
            };
            let Some((addresses, _)) = self.get(host, address_kind, now) else {
                return Lookup::Waiting;
            };
            return Lookup::Ready(with_port(&addresses, default_port));
        }
        let ordered = weighted_order(targets, rng);
        // Every target's addresses are asked for at once.
        let mut out = Vec::new();
        let mut waiting = false;
        for (port, target) in ordered {
            match self.get(&target, address_kind, now) {
                Some((addresses, _)) => out.extend(with_port(&addresses, port)),
                None => waiting = true,
            }
        }
        if waiting {
            Lookup::Waiting
        } else {
            Lookup::Ready(out)
        }
    }

    /// The cached records of `name` and whether its lookup failed, or `None` after asking for
    /// them (once).
    fn get(
        &mut self,
        name: &str,
        kind: RecordKind,
        now: Instant,
    ) -> Option<(Vec<RecordData>, bool)> {
        let key = (name.trim_end_matches('.').to_ascii_lowercase(), kind);
        if let Some(cached) = self.cache.get(&key)
            && now <= cached.until
        {
            return Some((cached.records.clone(), cached.failed));
        }
        if self.asked.insert(key.clone()) {
            self.next_id += 1;
            let id = self.next_id;
            self.outbox.push(DnsQuery {
                id,
                name: key.0.clone(),
                kind,
            });
            self.in_flight.insert(id, key);
        }
        None
    }

    /// An answer from the host: cached for its TTL (the lowest of its records', or the
    /// negative TTL). Whether it answered a query in flight.
    pub(crate) fn answer(&mut self, answer: DnsAnswer, now: Instant) -> bool {
        let Some(key) = self.in_flight.remove(&answer.id) else {
            return false;
        };
        self.asked.remove(&key);
        let failed = answer.failed && answer.records.is_empty();
        let ttl = if failed {
            answer.negative_ttl_s.min(FAILED_TTL.as_secs() as u32)
        } else if answer.records.is_empty() {
            answer.negative_ttl_s.min(MAX_NEGATIVE_TTL)
        } else {
            answer.records.iter().map(|r| r.ttl_s).min().unwrap_or(0)
        };
        let records = answer
            .records
            .into_iter()
            .map(|record| record.data)
            .filter(|data| match (key.1, data) {
                (RecordKind::Naptr, RecordData::Naptr { .. }) => true,
                (RecordKind::Srv, RecordData::Srv { .. }) => true,
                (RecordKind::A, RecordData::Address(ip)) => ip.is_ipv4(),
                (RecordKind::Aaaa, RecordData::Address(ip)) => ip.is_ipv6(),
                _ => false,
            })
            .collect();
        let until = now + Duration::from_secs(u64::from(ttl.min(86_400))).max(MIN_TTL);
        self.cache.insert(
            key,
            Cached {
                records,
                failed,
                until,
            },
        );
        true
    }

    /// A query got no answer in time: remembered as failed for a few seconds. Whether it was
    /// still in flight.
    pub(crate) fn give_up(&mut self, id: u64, now: Instant) -> bool {
        let Some(key) = self.in_flight.remove(&id) else {
            return false;
        };
        self.asked.remove(&key);
        let until = now + FAILED_TTL;
        self.cache.insert(
            key,
            Cached {
                records: Vec::new(),
                failed: true,
                until,
            },
        );
        true
    }
}

/// Whether `host` is written as a DNS name (labels of letters, digits, `-` and `_`, each 1 to
/// 63 long, 253 in all; a trailing dot allowed): something to resolve, not an address.
pub(crate) fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.parse::<IpAddr>().is_err()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn with_port(addresses: &[RecordData], port: u16) -> Vec<SocketAddr> {
    addresses
        .iter()
        .filter_map(|data| match data {
            RecordData::Address(ip) => Some(SocketAddr::new(*ip, port)),
            _ => None,
        })
        .collect()
}

/// RFC 2782's order of `(priority, weight, item)`: by priority (lower first); within one,
/// drawn by running sum of weights. A priority with one item draws nothing, so a lone
/// destination leaves the RNG as it was.
pub(crate) fn weighted_order<T>(mut items: Vec<(u16, u16, T)>, rng: &mut ChaCha8Rng) -> Vec<T> {
    items.sort_by_key(|item| item.0);
    let mut out = Vec::with_capacity(items.len());
    while !items.is_empty() {
        let priority = items[0].0;
        let same = items.iter().take_while(|item| item.0 == priority).count();
        let mut group: Vec<_> = items.drain(..same).collect();
        while group.len() > 1 {
            let total: u32 = group.iter().map(|item| u32::from(item.1)).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut at = rng.random_range(0..total);
                group
                    .iter()
                    .position(|item| {
                        let weight = u32::from(item.1);
                        if at < weight {
                            return true;
                        }
                        at -= weight;
                        false
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick).2);
        }
        out.extend(group.into_iter().map(|item| item.2));
    }
    out
}
