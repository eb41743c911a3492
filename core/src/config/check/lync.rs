//! The Microsoft Lync B2BUA section.

use std::time::Duration;

use super::Checker;
use crate::config::model::{self};
use crate::config::plans::LyncPolicy;
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn lync(&mut self, lync: &model::LyncB2bua, path: &FieldPath) -> Option<LyncPolicy> {
        let media_ports = self.port_range(&lync.media_port_range, &path.key("media_port_range"));
        let hop_count = self.hop_count(lync.hop_count, &path.key("hop_count"));
        let min_se = self.bounded(
            lync.min_session_refresh_interval_s,
            90,
            86_400,
            &path.key("min_session_refresh_interval_s"),
            "s",
        );
        let se = self.bounded(
            lync.session_refresh_interval_s,
            90,
            86_400,
            &path.key("session_refresh_interval_s"),
            "s",
        );
        let (se, min_se) = match (se, min_se) {
            (Some(se), Some(min_se)) if se < min_se => {
                self.report(
                    path.key("session_refresh_interval_s"),
                    format!("{se} s is below the minimum session refresh interval ({min_se} s)"),
                );
                (None, None)
            }
            pair => pair,
        };
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
            self.socket_addr(
                &lync.signalling_destination,
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
            session_refresh_interval: Duration::from_secs(se?),
            min_session_refresh_interval: Duration::from_secs(min_se?),
            signalling_destination: signalling_destination?,
            turn_failover: lync.turn_failover,
            turn_allocation_timeout: Duration::from_millis(turn_allocation_timeout?),
        })
    }
}
