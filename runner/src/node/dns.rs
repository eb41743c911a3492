//! The engine's DNS queries, answered with hickory-resolver on the stream runtime: each
//! answer comes back to the I/O loop as a message, an empty one when the name has no such
//! records or the lookup failed (with the zone's negative TTL when the server gave one).

use std::net::SocketAddr;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use anyhow::Context;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveErrorKind, TokioResolver};
use twoleg_core::dns::{DnsAnswer, DnsQuery, DnsRecord, RecordData, RecordKind};

use super::Message;

/// How long a failed lookup is remembered, in seconds.
const FAILED_TTL_S: u32 = 5;

/// The resolver: the config's servers, or the system's.
pub(super) struct Dns {
    resolver: TokioResolver,
}

impl Dns {
    pub(super) fn new(servers: &[SocketAddr]) -> anyhow::Result<Self> {
        let mut options = ResolverOpts::default();
        // The engine caches by TTL; a second cache here would only hold answers longer.
        options.cache_size = 0;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().context("reading the system's DNS configuration")?
        } else {
            let mut config = ResolverConfig::new();
            for server in servers {
                config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
            }
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        };
        Ok(Self {
            resolver: builder.with_options(options).build(),
        })
    }

    /// Looks `query` up on `runtime`; the answer goes to the loop.
    pub(super) fn ask(
        &self,
        runtime: &tokio::runtime::Handle,
        query: DnsQuery,
        loop_tx: SyncSender<Message>,
    ) {
        let resolver = self.resolver.clone();
        runtime.spawn(async move {
            let answer = lookup(&resolver, &query).await;
            // The loop's queue is bounded: waiting for room must not hold a runtime worker.
            tokio::task::block_in_place(|| {
                let _ = loop_tx.send(Message::Resolved(answer));
            });
        });
    }
}

async fn lookup(resolver: &TokioResolver, query: &DnsQuery) -> DnsAnswer {
    let record_type = match query.kind {
        RecordKind::Naptr => RecordType::NAPTR,
        RecordKind::Srv => RecordType::SRV,
        RecordKind::A => RecordType::A,
        RecordKind::Aaaa => RecordType::AAAA,
    };
    // A trailing dot: the name is absolute (no search domains).
    let name = format!("{}.", query.name);
    match resolver.lookup(name.as_str(), record_type).await {
        Ok(lookup) => {
            let records = lookup
                .record_iter()
                .filter_map(|record| {
                    let data = record_data(record.data())?;
                    Some(DnsRecord {
                        ttl_s: record.ttl(),
                        data,
                    })
                })
                .collect();
            DnsAnswer {
                id: query.id,
                records,
                negative_ttl_s: FAILED_TTL_S,
                failed: false,
            }
        }
        Err(error) => {
            // No such name or no such records (NXDOMAIN, or NOERROR with none) is an answer;
            // anything else (SERVFAIL, REFUSED, no server answering) is a failure.
            let (negative_ttl, failed) = match error.kind() {
                ResolveErrorKind::Proto(proto) => match proto.kind() {
                    ProtoErrorKind::NoRecordsFound {
                        negative_ttl,
                        response_code,
                        ..
                    } => (
                        *negative_ttl,
                        !matches!(
                            response_code,
                            ResponseCode::NoError | ResponseCode::NXDomain
                        ),
                    ),
                    _ => (None, true),
                },
                _ => (None, true),
            };
            if failed {
                tracing::warn!(name = %query.name, kind = ?query.kind, %error, "DNS lookup failed");
            } else {
                tracing::debug!(name = %query.name, kind = ?query.kind, %error, "DNS lookup found nothing");
            }
            DnsAnswer {
                id: query.id,
                records: Vec::new(),
                negative_ttl_s: negative_ttl.unwrap_or(FAILED_TTL_S),
                failed,
            }
        }
    }
}

fn record_data(data: &RData) -> Option<RecordData> {
    Some(match data {
        RData::A(a) => RecordData::Address(a.0.into()),
        RData::AAAA(aaaa) => RecordData::Address(aaaa.0.into()),
        RData::SRV(srv) => RecordData::Srv {
            priority: srv.priority(),
            weight: srv.weight(),
            port: srv.port(),
            target: srv.target().to_utf8().trim_end_matches('.').to_owned(),
        },
        RData::NAPTR(naptr) => RecordData::Naptr {
            order: naptr.order(),
            preference: naptr.preference(),
            flags: String::from_utf8_lossy(naptr.flags()).into_owned(),
            service: String::from_utf8_lossy(naptr.services()).into_owned(),
            replacement: naptr
                .replacement()
                .to_utf8()
                .trim_end_matches('.')
                .to_owned(),
        },
        _ => return None,
    })
}
