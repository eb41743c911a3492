//! Flood protection per source IP (`flood_protection`): a source that sends more new requests
//! in one second than the limit is refused for `block_s`, every request it sends meanwhile
//! answered 503 with Retry-After or dropped, as the config says. Retransmissions of requests
//! with a transaction and ACKs are not counted. Counted in the engine's virtual time, so the
//! simulator and the tests see the same as the runner. The table is bounded: when full, the
//! quiet sources are forgotten first.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::FloodPlan;
use crate::status::SourceStatus;
use crate::time::Instant;

/// Sources remembered at most.
const MAX_SOURCES: usize = 65_536;

/// The sources seen, with their rate and blocks.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    table: BTreeMap<IpAddr, Source>,
    /// When the full table was last swept of quiet sources: at most once a second, so that
    /// a stream of new (perhaps spoofed) sources cannot make every request a sweep.
    swept: Option<Instant>,
}

#[derive(Debug)]
struct Source {
    window_start: Instant,
    in_window: u32,
    blocked_until: Option<Instant>,
    refused: u64,
    blocks: u64,
}

impl Sources {
    /// A new request from `ip`: `None` when it may go on, else how long its source stays
    /// blocked.
    pub(crate) fn note(&mut self, ip: IpAddr, now: Instant, plan: FloodPlan) -> Option<Duration> {
        if self.table.len() >= MAX_SOURCES && !self.table.contains_key(&ip) {
            let due = self
                .swept
                .is_none_or(|at| now.saturating_since(at) >= Duration::from_secs(1));
            if due {
                self.swept = Some(now);
                self.table.retain(|_, source| {
                    source.blocked_until.is_some_and(|until| until > now)
                        || now.saturating_since(source.window_start) < Duration::from_secs(1)
                });
            }
            if self.table.len() >= MAX_SOURCES {
                // Every remembered source was busy within the last second: this one is not
                // tracked (nor blocked) until the next sweep.
                return None;
            }
        }
        let source = self.table.entry(ip).or_insert(Source {
            window_start: now,
            in_window: 0,
            blocked_until: None,
            refused: 0,
            blocks: 0,
        });
        if let Some(until) = source.blocked_until {
            if until > now {
                source.refused += 1;
                return Some(until.saturating_since(now));
            }
            source.blocked_until = None;
        }
        if now.saturating_since(source.window_start) >= Duration::from_secs(1) {
            source.window_start = now;
            source.in_window = 0;
        }
        source.in_window += 1;
        if source.in_window > plan.max_per_second {
            source.blocked_until = Some(now + plan.block);
            source.blocks += 1;
            source.refused += 1;
            return Some(plan.block);
        }
        None
    }

    /// The sources flood protection refused anything from, with their counts.
    pub(crate) fn status(&self, now: Instant) -> Vec<SourceStatus> {
        self.table
            .iter()
            .filter(|(_, source)| source.refused > 0)
            .map(|(ip, source)| SourceStatus {
                address: *ip,
                blocked: source.blocked_until.is_some_and(|until| until > now),
                blocked_for_ms: source
                    .blocked_until
                    .map_or(0, |until| until.saturating_since(now).as_millis() as u64),
                blocks: source.blocks,
                requests_refused: source.refused,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FloodAction;

    #[test]
    fn a_source_over_its_rate_is_blocked_for_the_period_and_others_are_not() {
        let plan = FloodPlan {
            max_per_second: 3,
            block: Duration::from_secs(10),
            action: FloodAction::Respond,
        };
        let mut sources = Sources::default();
        let (noisy, quiet): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::ZERO;
        for _ in 0..3 {
            assert_eq!(sources.note(noisy, t0, plan), None);
        }
        assert_eq!(sources.note(noisy, t0, plan), Some(Duration::from_secs(10)));
        assert_eq!(sources.note(quiet, t0, plan), None);
        let later = t0 + Duration::from_secs(4);
        assert_eq!(
            sources.note(noisy, later, plan),
            Some(Duration::from_secs(6))
        );
        let status = sources.status(later);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].address, noisy);
        assert_eq!(status[0].requests_refused, 2);
        assert!(status[0].blocked);
        let after = t0 + Duration::from_secs(10);
        assert_eq!(sources.note(noisy, after, plan), None);
        assert!(!sources.status(after)[0].blocked);
    }
}
