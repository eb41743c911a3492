//! The newest call attempts TwoLeg refused or dropped before a call existed (`GET
//! /api/refusals`): new INVITEs answered with a final status of TwoLeg's own (403, 407, 404,
//! 503, ...), and INVITEs a zone drops, so that a caller told 403 or 407 can be traced
//! without reading logs. Other requests (stray responses, in-dialog requests, malformed
//! datagrams) are counted in the metrics, and a flood per source in `GET /api/sources`; the
//! same refusal again from the same source right after the last adds to its count.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use twoleg_core::sip::Method;
use twoleg_core::{DropReason, Event, Refusal};

/// Refusals kept, newest last; older ones are forgotten.
const KEPT: usize = 1_000;

/// How long a reason may be, in bytes (a reason may quote a peer's header).
const REASON_BYTES: usize = 120;

/// One refusal, or several in a row from one source alike.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RefusalEntry {
    /// Wall-clock time of the first, milliseconds since the Unix epoch.
    pub(crate) at_unix_ms: u64,
    /// Of the last, when `count` > 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_at_unix_ms: Option<u64>,
    pub(crate) source: SocketAddr,
    /// The status it was answered with; absent when the zone dropped it unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Why, in words (`the zone refuses calls`, `not authenticated: wrong password`).
    pub(crate) reason: String,
    /// How many in a row.
    pub(crate) count: u64,
}

/// The newest [`KEPT`] refusals.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    entries: VecDeque<RefusalEntry>,
}

impl Refusals {
    /// Notes `event` if it refused or dropped a call attempt (but for flood protection's).
    pub(crate) fn note(&mut self, event: &Event) {
        let (source, status, reason) = match event {
            Event::Refused {
                source,
                method,
                status,
                reason,
            } if *method == Method::INVITE && !matches!(reason, Refusal::Flooding) => {
                (*source, Some(status.code()), reason.to_string())
            }
            Event::Dropped {
                source,
                reason: reason @ DropReason::ZoneDropsCalls,
            } => (*source, None, reason.to_string()),
            _ => return,
        };
        let reason = shortened(reason);
        let now = unix_ms();
        if let Some(last) = self.entries.back_mut()
            && last.source == source
            && last.status == status
            && last.reason == reason
        {
            last.count += 1;
            last.last_at_unix_ms = Some(now);
            return;
        }
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back(RefusalEntry {
            at_unix_ms: now,
            last_at_unix_ms: None,
            source,
            status,
            reason,
            count: 1,
        });
    }

    /// Newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &RefusalEntry> {
        self.entries.iter().rev()
    }
}

/// `reason` cut to [`REASON_BYTES`] at a character boundary.
fn shortened(mut reason: String) -> String {
    if reason.len() > REASON_BYTES {
        let mut cut = REASON_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twoleg_core::sip::StatusCode;

    fn refused(port: u16, method: Method, reason: Refusal) -> Event {
        Event::Refused {
            source: SocketAddr::from(([127, 0, 0, 66], port)),
            method,
            status: StatusCode::FORBIDDEN,
            reason,
        }
    }

    #[test]
    fn keeps_the_newest_thousand_call_attempts_and_counts_repeats() {
        let mut refusals = Refusals::default();
        for port in 0..1_005 {
            refusals.note(&refused(port, Method::INVITE, Refusal::Forbidden));
        }
        let ports: Vec<u16> = refusals.newest_first().map(|e| e.source.port()).collect();
        assert_eq!(ports.len(), KEPT);
        assert_eq!((ports[0], ports[KEPT - 1]), (1_004, 5));

        // Floods, other methods and other drops are not listed; a repeat adds to the count.
        refusals.note(&refused(9, Method::INVITE, Refusal::Flooding));
        refusals.note(&refused(9, Method::BYE, Refusal::NoSuchDialog));
        refusals.note(&Event::Dropped {
            source: SocketAddr::from(([127, 0, 0, 66], 7)),
            reason: DropReason::Flooding,
        });
        refusals.note(&refused(1_004, Method::INVITE, Refusal::Forbidden));
        let newest = refusals.newest_first().next().unwrap();
        assert_eq!(
            (newest.source.port(), newest.count, newest.status),
            (1_004, 2, Some(403))
        );
        assert!(newest.last_at_unix_ms.is_some());
        assert_eq!(newest.reason, Refusal::Forbidden.to_string());
        assert_eq!(refusals.newest_first().count(), KEPT);
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let reason = shortened("é".repeat(200));
        assert!(reason.len() <= REASON_BYTES + '…'.len_utf8());
        assert!(reason.ends_with('…'));
        assert_eq!(shortened("short".to_owned()), "short");
    }
}
