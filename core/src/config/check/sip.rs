//! The `sip` section: listeners and timers.

use std::time::Duration;

use super::Checker;
use crate::config::model::{self};
use crate::config::plans::{ListenerPlan, TimerValues};
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn listeners(
        &mut self,
        listeners: &[model::Listener],
        path: &FieldPath,
    ) -> Option<Vec<ListenerPlan>> {
        if listeners.is_empty() {
            self.report(path.clone(), "is empty; give at least one UDP listener");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, listener) in listeners.iter().enumerate() {
            let at = path.index(i);
            let Some(address) = self.socket_addr(&listener.address, &at.key("address")) else {
                ok = false;
                continue;
            };
            if let Some(first) = out.iter().position(|l: &ListenerPlan| l.address == address) {
                self.report(
                    at.key("address"),
                    format!("{address} duplicates {}", path.index(first).key("address")),
                );
                ok = false;
            }
            if !listener.name.is_empty()
                && let Some(first) = out.iter().position(|l| l.name == listener.name)
            {
                self.report(
                    at.key("name"),
                    format!(
                        "\"{}\" duplicates {}",
                        listener.name,
                        path.index(first).key("name")
                    ),
                );
                ok = false;
            }
            out.push(ListenerPlan {
                name: listener.name.clone(),
                address,
            });
        }
        ok.then_some(out)
    }

    pub(super) fn timers(
        &mut self,
        timers: &model::Timers,
        path: &FieldPath,
    ) -> Option<TimerValues> {
        let t1 = self.bounded(timers.t1_ms, 1, 60_000, &path.key("t1_ms"), "ms");
        let t2 = self.bounded(timers.t2_ms, 1, 600_000, &path.key("t2_ms"), "ms");
        let t4 = self.bounded(timers.t4_ms, 1, 600_000, &path.key("t4_ms"), "ms");
        let (t1, t2, t4) = (t1?, t2?, t4?);
        if t2 < t1 {
            self.report(
                path.key("t2_ms"),
                format!("{t2} ms is below T1 ({t1} ms); T2 caps intervals that start at T1"),
            );
            return None;
        }
        Some(TimerValues {
            t1: Duration::from_millis(t1),
            t2: Duration::from_millis(t2),
            t4: Duration::from_millis(t4),
        })
    }
}
