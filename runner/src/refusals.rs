//! The newest requests TwoLeg refused or dropped before any call existed (`GET
//! /api/refusals`): when, from where, what, the status it got and why in words, so that a
//! caller told 403 or 407 can be traced without reading logs. A flood is not listed request by
//! request (it would push out everything else): `GET /api/sources` counts it per source.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use twoleg_core::{DropReason, Event, Refusal};

/// Refusals kept, newest last; older ones are forgotten.
const KEPT: usize = 1_000;

/// One refused or dropped request.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RefusalEntry {
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub(crate) at_unix_ms: u64,
    pub(crate) source: SocketAddr,
    /// The request's method; absent for a dropped datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<String>,
    /// The status it was answered with; absent when it was dropped unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Why, in words (`the zone refuses calls`, `not authenticated: wrong password`).
    pub(crate) reason: String,
}

/// The newest [`KEPT`] refusals.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    entries: VecDeque<RefusalEntry>,
}

impl Refusals {
    /// Notes `event` if it is a refusal or a drop, but for flood protection's.
    pub(crate) fn note(&mut self, event: &Event) {
        let entry = match event {
            Event::Refused {
                source,
                method,
                status,
                reason,
            } => {
                if matches!(reason, Refusal::Flooding) {
                    return;
                }
                RefusalEntry {
                    at_unix_ms: unix_ms(),
                    source: *source,
                    method: Some(method.to_string()),
                    status: Some(status.code()),
                    reason: reason.to_string(),
                }
            }
            Event::Dropped { source, reason } => {
                if matches!(reason, DropReason::Flooding) {
                    return;
                }
                RefusalEntry {
                    at_unix_ms: unix_ms(),
                    source: *source,
                    method: None,
                    status: None,
                    reason: reason.to_string(),
                }
            }
            _ => return,
        };
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &RefusalEntry> {
        self.entries.iter().rev()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twoleg_core::sip::{Method, StatusCode};

    fn refused(port: u16, reason: Refusal) -> Event {
        Event::Refused {
            source: SocketAddr::from(([127, 0, 0, 66], port)),
            method: Method::INVITE,
            status: StatusCode::FORBIDDEN,
            reason,
        }
    }

    #[test]
    fn keeps_the_newest_thousand_and_leaves_floods_to_the_source_counts() {
        let mut refusals = Refusals::default();
        for port in 0..1_005 {
            refusals.note(&refused(port, Refusal::Forbidden));
        }
        refusals.note(&refused(9, Refusal::Flooding));
        refusals.note(&Event::Dropped {
            source: SocketAddr::from(([127, 0, 0, 66], 7)),
            reason: DropReason::Flooding,
        });
        let ports: Vec<u16> = refusals.newest_first().map(|e| e.source.port()).collect();
        assert_eq!(ports.len(), KEPT);
        assert_eq!((ports[0], ports[KEPT - 1]), (1_004, 5));
        let newest = refusals.newest_first().next().unwrap();
        assert_eq!(
            (newest.method.as_deref(), newest.status),
            (Some("INVITE"), Some(403))
        );
        assert_eq!(newest.reason, Refusal::Forbidden.to_string());
    }
}
