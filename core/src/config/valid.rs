//! The validated config: the only form the engine accepts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::{self, Config, Encryption};
use super::problem::{FieldPath, Problem, Problems};
use crate::turn::{TurnEndpoint, TurnServerTable};

/// A config that passed validation, with every value in its typed form.
///
/// Only [`ValidConfig::from_json`] and [`ValidConfig::validate`] make one, so an unvalidated
/// config cannot reach the engine.
#[derive(Clone, Debug)]
pub struct ValidConfig {
    config: Config,
    listeners: Vec<ListenerPlan>,
    timers: TimerValues,
    max_forwards: u8,
    max_message_size: usize,
    ring_timeout: Option<Duration>,
    routes: Vec<RoutePlan>,
    lync: LyncPolicy,
    turn_servers: TurnServerTable,
    turn_health: Option<HealthPolicy>,
    admin_listen: SocketAddr,
    history_max_calls: usize,
}

/// A UDP listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerPlan {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
}

/// The RFC 3261 timer base values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerValues {
    /// Round-trip estimate.
    pub t1: Duration,
    /// Cap on retransmission intervals.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for TimerValues {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// A route in typed form.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// Its name (or `route N` when the file gave none).
    pub name: String,
    /// Pattern for the Request-URI user part.
    pub user: Option<Matcher>,
    /// Pattern for the Request-URI host part.
    pub host: Option<Matcher>,
    /// Where the B leg goes.
    pub destination: SocketAddr,
    /// Whether the call goes through the Microsoft Lync B2BUA.
    pub lync: bool,
    /// Index into [`ValidConfig::listeners`] of the listener the B leg uses.
    pub listener: usize,
}

impl RoutePlan {
    /// Whether a Request-URI with this user and host part takes this route.
    pub fn matches(&self, user: Option<&str>, host: &str) -> bool {
        let user_ok = match &self.user {
            None => true,
            Some(matcher) => user.is_some_and(|user| matcher.matches(user, false)),
        };
        user_ok && self.host.as_ref().is_none_or(|m| m.matches(host, true))
    }
}

/// A compiled [`model::Pattern`].
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal text.
    Exact(String),
    /// Text that starts with this.
    Prefix(String),
    /// Text that the whole expression matches.
    Regex(regex_lite::Regex),
}

impl Matcher {
    /// Whether `text` matches; hosts compare without regard to case.
    pub fn matches(&self, text: &str, ignore_case: bool) -> bool {
        match self {
            Self::Exact(want) if ignore_case => want.eq_ignore_ascii_case(text),
            Self::Exact(want) => want == text,
            Self::Prefix(want) if ignore_case => text
                .get(..want.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(want)),
            Self::Prefix(want) => text.starts_with(want.as_str()),
            Self::Regex(regex) => regex.is_match(text),
        }
    }
}

/// The Microsoft Lync B2BUA settings in typed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LyncPolicy {
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether TURN relay candidates are offered toward Lync.
    pub offer_turn_services: bool,
    /// Media encryption policy.
    pub encryption: Encryption,
    /// First and last media port.
    pub media_ports: (u16, u16),
    /// Max-Forwards toward Lync.
    pub hop_count: u8,
    /// Session-Expires.
    pub session_refresh_interval: Duration,
    /// Min-SE.
    pub min_session_refresh_interval: Duration,
    /// Lync signalling destination, if set.
    pub signalling_destination: Option<SocketAddr>,
    /// Try another TURN server when an allocation fails.
    pub turn_failover: bool,
    /// How long the Lync leg's INVITE waits for its relays.
    pub turn_allocation_timeout: Duration,
}

/// TURN health probing, when switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Time between probes of each address/port combination.
    pub interval: Duration,
    /// Probes missed in a row before the combination is marked down.
    pub failures_before_down: u32,
}

impl ValidConfig {
    /// Reads and validates config text, returning every problem at once.
    pub fn from_json(text: &str) -> Result<Self, Problems> {
        let loaded = super::load::load(text).map_err(|p| Problems(vec![p]))?;
        Self::finish(loaded)
    }

    /// Validates an already parsed JSON document.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Problems> {
        Self::finish(super::load::load_value(value))
    }

    /// Validates a config model (one built in code or edited in the browser).
    pub fn validate(config: Config) -> Result<Self, Problems> {
        Self::finish(super::load::Loaded {
            config,
            problems: Vec::new(),
            removed: Vec::new(),
        })
    }

    fn finish(loaded: super::load::Loaded) -> Result<Self, Problems> {
        let mut check = Checker {
            problems: loaded.problems,
            removed: loaded.removed,
        };
        let valid = check.config(loaded.config);
        match valid {
            Some(valid) if check.problems.is_empty() => Ok(valid),
            _ => Err(Problems(check.problems)),
        }
    }

    /// The config as written, for export (passwords included).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The UDP listeners; there is at least one.
    pub fn listeners(&self) -> &[ListenerPlan] {
        &self.listeners
    }

    /// T1, T2, T4.
    pub fn timers(&self) -> TimerValues {
        self.timers
    }

    /// Max-Forwards for requests the B2BUA originates.
    pub fn max_forwards(&self) -> u8 {
        self.max_forwards
    }

    /// Largest datagram accepted.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// How long a callee may ring, if limited.
    pub fn ring_timeout(&self) -> Option<Duration> {
        self.ring_timeout
    }

    /// Routes in order.
    pub fn routes(&self) -> &[RoutePlan] {
        &self.routes
    }

    /// The Microsoft Lync B2BUA settings.
    pub fn lync(&self) -> &LyncPolicy {
        &self.lync
    }

    /// The B2BUA TURN servers.
    pub fn turn_servers(&self) -> &TurnServerTable {
        &self.turn_servers
    }

    /// TURN health probing, if switched on.
    pub fn turn_health(&self) -> Option<HealthPolicy> {
        self.turn_health
    }

    /// The admin HTTP listener.
    pub fn admin_listen(&self) -> SocketAddr {
        self.admin_listen
    }

    /// How many finished calls history keeps.
    pub fn history_max_calls(&self) -> usize {
        self.history_max_calls
    }

    /// Returns a copy with these timer values, for tests and the simulator that shrink T1.
    pub fn with_timers(mut self, timers: TimerValues) -> Self {
        self.timers = timers;
        self.config.sip.timers = model::Timers {
            t1_ms: timers.t1.as_millis() as u64,
            t2_ms: timers.t2.as_millis() as u64,
            t4_ms: timers.t4.as_millis() as u64,
        };
        self
    }
}

/// Accumulates problems while typing each part of the config.
struct Checker {
    problems: Vec<Problem>,
    removed: Vec<FieldPath>,
}

impl Checker {
    fn report(&mut self, path: FieldPath, message: impl Into<String>) {
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
        let lync = self.lync(&config.lync_b2bua, &root.key("lync_b2bua"));
        let routes = self.routes(&config, &listeners, &root.key("routes"));
        let turn_servers = self.turn_servers(&config.turn_servers, &root.key("turn_servers"));
        let turn_health = self.turn_health(&config.turn_health, &root.key("turn_health"));
        let admin_listen = self.socket_addr(&config.admin.listen, &root.key("admin").key("listen"));
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
            routes: routes?,
            lync: lync?,
            turn_servers: turn_servers?,
            turn_health: turn_health?,
            admin_listen: admin_listen?,
            history_max_calls: history_max_calls? as usize,
            config,
        })
    }

    fn listeners(
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

    fn timers(&mut self, timers: &model::Timers, path: &FieldPath) -> Option<TimerValues> {
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

    fn routes(
        &mut self,
        config: &Config,
        listeners: &Option<Vec<ListenerPlan>>,
        path: &FieldPath,
    ) -> Option<Vec<RoutePlan>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, route) in config.routes.iter().enumerate() {
            let at = path.index(i);
            let matcher = at.key("match");
            let user = self.matcher(route.matcher.user.as_ref(), &matcher.key("user"));
            let host = self.matcher(route.matcher.host.as_ref(), &matcher.key("host"));
            let destination = if route.destination.trim().is_empty() {
                self.report(
                    at.key("destination"),
                    "is empty; give where the call goes as ip:port, like 127.0.0.1:5070",
                );
                None
            } else {
                self.socket_addr(&route.destination, &at.key("destination"))
            };
            if route.lync && !config.lync_b2bua.enabled {
                self.report(
                    at.key("lync"),
                    "the route goes through the Microsoft Lync B2BUA, but lync_b2bua.enabled is false",
                );
                ok = false;
            }
            let listener = match (route.listener.as_str(), listeners) {
                ("", _) => Some(0),
                (name, Some(listeners)) => {
                    let found = listeners.iter().position(|l| l.name == name);
                    if found.is_none() {
                        self.report(
                            at.key("listener"),
                            format!("\"{name}\" is not the name of any sip.listeners entry"),
                        );
                    }
                    found
                }
                (_, None) => None,
            };
            let (Some(user), Some(host), Some(destination), Some(listener)) =
                (user, host, destination, listener)
            else {
                ok = false;
                continue;
            };
            out.push(RoutePlan {
                name: if route.name.is_empty() {
                    format!("route {i}")
                } else {
                    route.name.clone()
                },
                user,
                host,
                destination,
                lync: route.lync,
                listener,
            });
        }
        ok.then_some(out)
    }

    /// `Some(None)` for no pattern, `None` for a bad one.
    fn matcher(
        &mut self,
        pattern: Option<&model::Pattern>,
        path: &FieldPath,
    ) -> Option<Option<Matcher>> {
        let Some(pattern) = pattern else {
            return Some(None);
        };
        let (kind, text) = match pattern {
            model::Pattern::Exact(text) => ("exact", text),
            model::Pattern::Prefix(text) => ("prefix", text),
            model::Pattern::Regex(text) => ("regex", text),
        };
        let at = path.key(kind);
        if text.is_empty() {
            self.report(at, "is empty; leave the pattern out to match anything");
            return None;
        }
        Some(Some(match pattern {
            model::Pattern::Exact(text) => Matcher::Exact(text.clone()),
            model::Pattern::Prefix(text) => Matcher::Prefix(text.clone()),
            model::Pattern::Regex(text) => match regex_lite::Regex::new(&format!("^(?:{text})$")) {
                Ok(regex) => Matcher::Regex(regex),
                Err(e) => {
                    self.report(at, format!("is not a valid regular expression: {e}"));
                    return None;
                }
            },
        }))
    }

    fn lync(&mut self, lync: &model::LyncB2bua, path: &FieldPath) -> Option<LyncPolicy> {
        let range = path.key("media_port_range");
        let start = self.port(lync.media_port_range.start, &range.key("start"));
        let end = self.port(lync.media_port_range.end, &range.key("end"));
        let media_ports = match (start, end) {
            (Some(start), Some(end)) if end < start => {
                self.report(
                    range.key("end"),
                    format!("range end {end} is below its start {start}"),
                );
                None
            }
            (Some(start), Some(end)) => Some((start, end)),
            _ => None,
        };
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

    fn turn_health(
        &mut self,
        health: &model::TurnHealth,
        path: &FieldPath,
    ) -> Option<Option<HealthPolicy>> {
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

    fn turn_servers(
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

    fn socket_addr(&mut self, text: &str, path: &FieldPath) -> Option<SocketAddr> {
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
                    Some((host, port))
                        if host.trim_matches(['[', ']']).parse::<IpAddr>().is_err() =>
                    {
                        let _ = port;
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

    fn ip(&mut self, text: &str, path: &FieldPath) -> Option<IpAddr> {
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

    fn port(&mut self, port: u64, path: &FieldPath) -> Option<u16> {
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

    fn hop_count(&mut self, hops: u64, path: &FieldPath) -> Option<u8> {
        self.bounded(hops, 1, 255, path, "hops").map(|h| h as u8)
    }

    fn bounded(
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
