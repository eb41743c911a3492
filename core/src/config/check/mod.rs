//! Checks a config model part by part, typing each value and collecting every problem with its
//! path; one file per section, the scalars (addresses, ports, bounded numbers) here.

mod admin;
mod lync;
mod routes;
mod sip;
mod turn;
mod zones;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::{self, Config};
use super::plans::TlsPlan;
use super::problem::{FieldPath, Problem, Problems};
use super::valid::ValidConfig;

/// Accumulates problems while typing each part of the config.
pub(super) struct Checker {
    problems: Vec<Problem>,
    removed: Vec<FieldPath>,
}

impl Checker {
    /// A checker that already holds the problems loading found, and knows the fields loading
    /// removed (their own problems are not reported twice).
    pub(super) fn new(problems: Vec<Problem>, removed: Vec<FieldPath>) -> Self {
        Self { problems, removed }
    }

    /// The valid config, or every problem found.
    pub(super) fn check(mut self, config: Config) -> Result<ValidConfig, Problems> {
        let valid = self.config(config);
        let mut problems = self.problems.into_iter();
        match (valid, problems.next()) {
            (Some(valid), None) => Ok(valid),
            (_, Some(first)) => Err(Problems::new(first, problems.collect())),
            (None, None) => unreachable!("a part that fails to check reports why"),
        }
    }

    pub(super) fn report(&mut self, path: FieldPath, message: impl Into<String>) {
        if self.removed.iter().any(|removed| path.starts_with(removed)) {
            return;
        }
        self.problems.push(Problem::new(path, message));
    }

    fn config(&mut self, config: Config) -> Option<ValidConfig> {
        let root = FieldPath::root();
        if config.version != model::CONFIG_VERSION {
            self.report(
                root.key("version"),
                format!(
                    "{} is not a version this TwoLeg reads; it reads version {}",
                    config.version,
                    model::CONFIG_VERSION
                ),
            );
        }
        let sip = root.key("sip");
        let listeners = self.listeners(&config.sip.listeners, &sip.key("listeners"));
        let timers = self.timers(&config.sip.timers, &sip.key("timers"));
        let max_forwards = self.hop_count(config.sip.max_forwards, &sip.key("max_forwards"));
        let max_message_size = self.bounded(
            config.sip.max_message_size,
            1_024,
            65_535,
            &sip.key("max_message_size"),
            "bytes",
        );
        let ring_timeout =
            (config.sip.ring_timeout_s > 0).then(|| Duration::from_secs(config.sip.ring_timeout_s));
        let connections = self.connections(&config.sip.connections, &sip.key("connections"));
        let session_timers = self.session_timers(
            config.sip.session_refresh_interval_s,
            config.sip.min_session_refresh_interval_s,
            &sip,
        );
        let zones = self.zones(&config.zones, &config.default_zone, &root.key("zones"));
        let checking_zone = config
            .zones
            .iter()
            .position(|z| z.authentication_policy == model::AuthenticationPolicy::CheckCredentials)
            .map(|i| root.key("zones").index(i).key("authentication_policy"))
            .or_else(|| {
                (config.default_zone.authentication_policy
                    == model::AuthenticationPolicy::CheckCredentials)
                    .then(|| root.key("default_zone").key("authentication_policy"))
            });
        let auth = self.authentication(
            &config.authentication,
            checking_zone.as_ref(),
            &root.key("authentication"),
        );
        let flood = self.flood_protection(&config.flood_protection, &root.key("flood_protection"));
        let encryption =
            self.encryption_b2bua(&config.encryption_b2bua, &root.key("encryption_b2bua"));
        let lync = self.lync(&config.lync_b2bua, &root.key("lync_b2bua"));
        let routes = self.routes(&config, &listeners, &root.key("routes"));
        let turn_servers = self.turn_servers(&config.turn_servers, &root.key("turn_servers"));
        let turn_health = self.turn_health(&config.turn_health, &root.key("turn_health"));
        let admin_listen = self.socket_addr(&config.admin.listen, &root.key("admin").key("listen"));
        let admin_tokens = self.admin_tokens(&config.admin, admin_listen, &root.key("admin"));
        let admin_tls = config.admin.tls.as_ref().map(|tls| TlsPlan {
            certificate_chain: tls.certificate_chain.trim().to_owned(),
            private_key: tls.private_key.trim().to_owned(),
            ca: None,
            require_client_certificate: false,
        });
        let dns_servers: Option<Vec<SocketAddr>> = config
            .dns
            .servers
            .iter()
            .enumerate()
            .map(|(i, server)| self.socket_addr(server, &root.key("dns").key("servers").index(i)))
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        let history_max_calls = self.bounded(
            config.history.max_calls,
            1,
            1_000_000,
            &root.key("history").key("max_calls"),
            "calls",
        );
        Some(ValidConfig {
            listeners: listeners?,
            timers: timers?,
            max_forwards: max_forwards?,
            max_message_size: max_message_size? as usize,
            ring_timeout,
            session_timers: session_timers?,
            connections: connections?,
            routes: routes?,
            zones: zones?,
            auth: auth?,
            flood: flood?,
            encryption: encryption?,
            lync: lync?,
            turn_servers: turn_servers?,
            turn_health: turn_health?,
            admin_listen: admin_listen?,
            admin_tokens: admin_tokens?,
            admin_tls,
            dns_servers: dns_servers?,
            history_max_calls: history_max_calls? as usize,
            config,
        })
    }

    pub(super) fn socket_addr(&mut self, text: &str, path: &FieldPath) -> Option<SocketAddr> {
        match text.trim().parse::<SocketAddr>() {
            Ok(address) if address.port() == 0 => {
                self.report(
                    path.clone(),
                    format!("{text} has port 0; give a port from 1 to 65535"),
                );
                None
            }
            Ok(address) => Some(address),
            Err(_) => {
                let message = match text.rsplit_once(':') {
                    Some((host, _)) if host.trim_matches(['[', ']']).parse::<IpAddr>().is_err() => {
                        format!(
                            "\"{text}\" is not an IP address and port: \"{host}\" is not an IP address"
                        )
                    }
                    Some((_, port)) => {
                        format!(
                            "\"{text}\" is not an IP address and port: {port} is not a port number"
                        )
                    }
                    None => {
                        format!("\"{text}\" is not an IP address and port, like 127.0.0.1:5060")
                    }
                };
                self.report(path.clone(), message);
                None
            }
        }
    }

    pub(super) fn ip(&mut self, text: &str, path: &FieldPath) -> Option<IpAddr> {
        if text.trim().is_empty() {
            self.report(path.clone(), "is empty; give the server's IP address");
            return None;
        }
        match text.trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.report(path.clone(), format!("\"{text}\" is not an IP address"));
                None
            }
        }
    }

    pub(super) fn port(&mut self, port: u64, path: &FieldPath) -> Option<u16> {
        match u16::try_from(port) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                self.report(
                    path.clone(),
                    format!("{port} is not a port number (1 to 65535)"),
                );
                None
            }
        }
    }

    /// An inclusive port range: both ends ports, the end not below the start.
    pub(super) fn port_range(
        &mut self,
        range: &model::PortRange,
        path: &FieldPath,
    ) -> Option<(u16, u16)> {
        let start = self.port(range.start, &path.key("start"));
        let end = self.port(range.end, &path.key("end"));
        match (start, end) {
            (Some(start), Some(end)) if end < start => {
                self.report(
                    path.key("end"),
                    format!("range end {end} is below its start {start}"),
                );
                None
            }
            (Some(start), Some(end)) => Some((start, end)),
            _ => None,
        }
    }

    pub(super) fn hop_count(&mut self, hops: u64, path: &FieldPath) -> Option<u8> {
        self.bounded(hops, 1, 255, path, "hops").map(|h| h as u8)
    }

    pub(super) fn bounded(
        &mut self,
        value: u64,
        min: u64,
        max: u64,
        path: &FieldPath,
        unit: &str,
    ) -> Option<u64> {
        if (min..=max).contains(&value) {
            return Some(value);
        }
        self.report(
            path.clone(),
            format!("{value} {unit} is out of range; allowed are {min} to {max} {unit}"),
        );
        None
    }
}
