//! B2BUA TURN servers and their health probing.

use std::net::SocketAddr;
use std::time::Duration;

use super::Checker;
use crate::config::model::{self};
use crate::config::plans::HealthPolicy;
use crate::config::problem::FieldPath;
use crate::turn::{TurnEndpoint, TurnServerTable};

impl Checker {
    pub(super) fn turn_servers(
        &mut self,
        servers: &[model::TurnServer],
        path: &FieldPath,
    ) -> Option<TurnServerTable> {
        let mut endpoints: Vec<(TurnEndpoint, FieldPath)> = Vec::new();
        let mut ok = true;
        for (i, server) in servers.iter().enumerate() {
            let at = path.index(i);
            if server.username.is_empty() {
                self.report(
                    at.key("username"),
                    "is empty; the TURN server needs the TURN services username",
                );
                ok = false;
            }
            if server.password.is_empty() {
                self.report(
                    at.key("password"),
                    "is empty; the TURN server needs the TURN services password",
                );
                ok = false;
            }
            let mut addresses = vec![(server.address.as_str(), server.port, at.clone())];
            for (j, extra) in server.additional_addresses.iter().enumerate() {
                addresses.push((
                    extra.address.as_str(),
                    extra.port,
                    at.key("additional_addresses").index(j),
                ));
            }
            for (address, port, where_) in addresses {
                let ip = self.ip(address, &where_.key("address"));
                let port = self.port(port, &where_.key("port"));
                let (Some(ip), Some(port)) = (ip, port) else {
                    ok = false;
                    continue;
                };
                let address = SocketAddr::new(ip, port);
                if let Some((_, first)) = endpoints.iter().find(|(e, _)| e.address == address) {
                    self.report(where_.clone(), format!("{address} duplicates {first}"));
                    ok = false;
                    continue;
                }
                endpoints.push((
                    TurnEndpoint {
                        server: i,
                        address,
                        description: server.description.clone(),
                        username: server.username.clone(),
                        password: server.password.clone(),
                    },
                    where_,
                ));
            }
        }
        ok.then(|| TurnServerTable::new(endpoints.into_iter().map(|(e, _)| e).collect()))
    }

    pub(super) fn turn_health(
        &mut self,
        health: &model::TurnHealth,
        path: &FieldPath,
    ) -> Option<Option<HealthPolicy>> {
        // `None`: a value is wrong (reported); `Some(None)`: probing is off.
        let failures = self.bounded(
            health.failures_before_down,
            1,
            100,
            &path.key("failures_before_down"),
            "probes",
        );
        if health.probe_interval_ms == 0 {
            return failures.map(|_| None);
        }
        let interval = self.bounded(
            health.probe_interval_ms,
            50,
            3_600_000,
            &path.key("probe_interval_ms"),
            "ms",
        );
        Some(Some(HealthPolicy {
            interval: Duration::from_millis(interval?),
            failures_before_down: failures? as u32,
        }))
    }
}
