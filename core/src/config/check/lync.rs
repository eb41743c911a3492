//! The Microsoft Lync B2BUA section.

use std::time::Duration;

use super::Checker;
use crate::config::model::{self};
use crate::config::plans::{LyncPolicy, SessionTimerPolicy};
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn lync(&mut self, lync: &model::LyncB2bua, path: &FieldPath) -> Option<LyncPolicy> {
        let media_ports = self.port_range(&lync.media_port_range, &path.key("media_port_range"));
        let hop_count = self.hop_count(lync.hop_count, &path.key("hop_count"));
        let session_timers = self.session_timers(
            lync.session_refresh_interval_s,
            lync.min_session_refresh_interval_s,
            path,
        );
        let turn_allocation_timeout = self.bounded(
            lync.turn_allocation_timeout_ms,
            100,
            60_000,
            &path.key("turn_allocation_timeout_ms"),
            "ms",
        );
        let signalling_destination = if lync.signalling_destination.trim().is_empty() {
            Some(None)
        } else {
            self.target(
                lync.signalling_destination.trim(),
                &path.key("signalling_destination"),
            )
            .map(Some)
        };
        Some(LyncPolicy {
            enabled: lync.enabled,
            offer_turn_services: lync.offer_turn_services,
            encryption: lync.encryption,
            media_ports: media_ports?,
            hop_count: hop_count?,
            session_timers: session_timers?,
            signalling_destination: signalling_destination?,
            turn_failover: lync.turn_failover,
            turn_allocation_timeout: Duration::from_millis(turn_allocation_timeout?),
        })
    }
}

impl Checker {
    /// A session refresh interval and its minimum (`path`'s `session_refresh_interval_s` and
    /// `min_session_refresh_interval_s`): both 90 s to a day, the interval not below the
    /// minimum.
    pub(super) fn session_timers(
        &mut self,
        interval_s: u64,
        min_s: u64,
        path: &FieldPath,
    ) -> Option<SessionTimerPolicy> {
        let min_path = path.key("min_session_refresh_interval_s");
        let interval_path = path.key("session_refresh_interval_s");
        let min = self.bounded(min_s, 90, 86_400, &min_path, "s");
        let interval = self.bounded(interval_s, 90, 86_400, &interval_path, "s");
        let (interval, min) = (interval?, min?);
        if interval < min {
            self.report(
                interval_path,
                format!("{interval} s is below the minimum session refresh interval ({min} s)"),
            );
            return None;
        }
        Some(SessionTimerPolicy {
            interval: Duration::from_secs(interval),
            min: Duration::from_secs(min),
        })
    }
}
