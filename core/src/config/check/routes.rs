//! Routes and how they match the Request-URI.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Checker;
use crate::Transport;
use crate::config::model::{self, Config};
use crate::config::plans::{
    DestinationPlan, HeaderPolicy, ListenerPlan, Matcher, PingPolicy, RoutePlan, Target,
};
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn routes(
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
            let destination = self.destinations(route, &at);
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
            let Some(listeners) = listeners else {
                ok = false;
                continue;
            };
            let transport = listeners[listener].transport;
            let large_requests_over = if route.large_requests_over_tcp {
                let tcp = listeners.iter().position(|l| {
                    l.transport == Transport::Tcp
                        && l.address.ip() == listeners[listener].address.ip()
                });
                if transport != Transport::Udp {
                    self.report(
                        at.key("large_requests_over_tcp"),
                        format!("is for UDP routes; this one goes over {transport}"),
                    );
                    ok = false;
                    continue;
                }
                if tcp.is_none() {
                    self.report(
                        at.key("large_requests_over_tcp"),
                        format!(
                            "needs a tcp listener on {} (the route listener's IP) to send from",
                            listeners[listener].address.ip()
                        ),
                    );
                    ok = false;
                    continue;
                }
                tcp
            } else {
                None
            };
            if !route.tls_server_name.is_empty() && transport != Transport::Tls {
                self.report(
                    at.key("tls_server_name"),
                    format!("is for TLS routes; this one goes over {transport}"),
                );
                ok = false;
                continue;
            }
            let headers = match route.unknown_headers {
                model::UnknownHeaders::Pass => HeaderPolicy::Pass,
                model::UnknownHeaders::Strip => HeaderPolicy::Strip,
                model::UnknownHeaders::AllowList => {
                    let bad = route.allowed_headers.iter().position(|name| {
                        name.is_empty()
                            || !name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_.!%*+`'~".contains(&b))
                    });
                    if let Some(index) = bad {
                        self.report(
                            at.key("allowed_headers").index(index),
                            "is not a header name (letters, digits and -_.!%*+`'~)",
                        );
                        ok = false;
                        continue;
                    }
                    HeaderPolicy::Allow(route.allowed_headers.clone())
                }
            };
            if !route.allowed_headers.is_empty()
                && route.unknown_headers != model::UnknownHeaders::AllowList
            {
                self.report(
                    at.key("allowed_headers"),
                    "is only read with \"unknown_headers\": \"allow_list\"",
                );
                ok = false;
                continue;
            }
            let limits = [
                (route.max_calls, "max_calls"),
                (route.max_calls_per_second, "max_calls_per_second"),
            ];
            if let Some((_, key)) = limits.iter().find(|(value, _)| *value > 1_000_000) {
                self.report(at.key(key), "is over 1,000,000; 0 means no limit");
                ok = false;
                continue;
            }
            let session_timers = match (
                route.session_refresh_interval_s,
                route.min_session_refresh_interval_s,
            ) {
                (0, 0) => None,
                (interval, min) => {
                    // One given alone takes the other from the SIP settings.
                    let interval = if interval == 0 {
                        config.sip.session_refresh_interval_s
                    } else {
                        interval
                    };
                    let min = if min == 0 {
                        config.sip.min_session_refresh_interval_s
                    } else {
                        min
                    };
                    let Some(policy) = self.session_timers(interval, min, &at) else {
                        ok = false;
                        continue;
                    };
                    Some(policy)
                }
            };
            let Some(rewrite) = self.rewrites(route, &at) else {
                ok = false;
                continue;
            };
            let (rewrite_user, rewrite_host) = rewrite;
            if route.ping_interval_s > 86_400 {
                self.report(at.key("ping_interval_s"), "is over a day; 0 means no pings");
                ok = false;
                continue;
            }
            if route.failover_after_ms > 64 * 60_000 {
                self.report(
                    at.key("failover_after_ms"),
                    "is over an hour; 0 means waiting for Timer B",
                );
                ok = false;
                continue;
            }
            out.push(RoutePlan {
                name: if route.name.is_empty() {
                    format!("route {i}")
                } else {
                    route.name.clone()
                },
                user,
                host,
                destinations: destination,
                failover_after: (route.failover_after_ms > 0)
                    .then(|| Duration::from_millis(route.failover_after_ms)),
                ping: (route.ping_interval_s > 0).then(|| PingPolicy {
                    interval: Duration::from_secs(route.ping_interval_s),
                    failures_before_down: match route.ping_failures_before_down {
                        0 => 3,
                        n => n.min(100) as u32,
                    },
                }),
                rewrite_user,
                rewrite_host,
                lync: route.lync,
                listener,
                large_requests_over,
                tls_server_name: (!route.tls_server_name.is_empty())
                    .then(|| route.tls_server_name.clone()),
                headers,
                session_timers,
                max_calls: (route.max_calls > 0).then_some(route.max_calls as usize),
                max_calls_per_second: (route.max_calls_per_second > 0)
                    .then_some(route.max_calls_per_second as usize),
            });
        }
        ok.then_some(out)
    }

    /// A route's destinations: `destination` alone, or the `destinations` list.
    fn destinations(
        &mut self,
        route: &model::Route,
        at: &FieldPath,
    ) -> Option<Vec<DestinationPlan>> {
        let one = !route.destination.trim().is_empty();
        match (one, route.destinations.is_empty()) {
            (false, true) => {
                self.report(
                    at.key("destination"),
                    "is empty; give where the call goes as ip:port, like 127.0.0.1:5070",
                );
                None
            }
            (true, false) => {
                self.report(
                    at.key("destinations"),
                    "is given with destination; give one or the other",
                );
                None
            }
            (true, true) => {
                let target = self.target(&route.destination, &at.key("destination"))?;
                Some(vec![DestinationPlan {
                    target,
                    priority: 1,
                    weight: 1,
                }])
            }
            (false, false) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, entry) in route.destinations.iter().enumerate() {
                    let path = at.key("destinations").index(i);
                    let Some(target) = self.target(&entry.address, &path.key("address")) else {
                        ok = false;
                        continue;
                    };
                    if out.iter().any(|d: &DestinationPlan| d.target == target) {
                        self.report(
                            path.key("address"),
                            format!("{target} is listed twice on this route"),
                        );
                        ok = false;
                        continue;
                    }
                    out.push(DestinationPlan {
                        target,
                        priority: entry.priority,
                        weight: entry.weight,
                    });
                }
                ok.then_some(out)
            }
        }
    }

    /// A destination: `ip:port`, `host:port` or `host`.
    pub(super) fn target(&mut self, text: &str, path: &FieldPath) -> Option<Target> {
        let text = text.trim();
        if text.parse::<SocketAddr>().is_ok() {
            return self.socket_addr(text, path).map(Target::Address);
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) if port > 0 => (host, Some(port)),
                _ => {
                    self.report(
                        path.clone(),
                        format!("\"{text}\": {port} is not a port number (1 to 65535)"),
                    );
                    return None;
                }
            },
            None => (text, None),
        };
        if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            self.report(
                path.clone(),
                format!("\"{text}\" gives an IP address without a port; write ip:port"),
            );
            return None;
        }
        if !crate::dns::is_host_name(host) || host.ends_with('.') {
            self.report(
                path.clone(),
                format!(
                    "\"{text}\" is not ip:port, host:port or a host name, like 127.0.0.1:5070 or pbx.example.com"
                ),
            );
            return None;
        }
        Some(Target::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// A route's Request-URI rewrite: its user part and host part, each when given.
    #[allow(clippy::type_complexity)]
    fn rewrites(
        &mut self,
        route: &model::Route,
        at: &FieldPath,
    ) -> Option<(Option<String>, Option<(String, Option<u16>)>)> {
        let user = route.rewrite_user.trim();
        let user_ok = user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/%".contains(&b));
        if !user_ok {
            self.report(
                at.key("rewrite_user"),
                format!("\"{user}\" is not a SIP URI user part (no spaces, @ or :)"),
            );
            return None;
        }
        let host = route.rewrite_host.trim();
        let host_part = if host.is_empty() {
            None
        } else {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => {
                    match port.parse::<u16>() {
                        Ok(port) if port > 0 => (name, Some(port)),
                        _ => {
                            self.report(
                                at.key("rewrite_host"),
                                format!("\"{host}\": {port} is not a port number (1 to 65535)"),
                            );
                            return None;
                        }
                    }
                }
                _ => (host, None),
            };
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
            if !name_ok {
                self.report(
                    at.key("rewrite_host"),
                    format!("\"{host}\" is not a host name or IP address (with an optional :port)"),
                );
                return None;
            }
            Some((name.to_owned(), port))
        };
        Some(((!user.is_empty()).then(|| user.to_owned()), host_part))
    }

    /// `Some(None)` for no pattern, `None` for a bad one.
    pub(super) fn matcher(
        &mut self,
        pattern: Option<&model::Pattern>,
        path: &FieldPath,
    ) -> Option<Option<Matcher>> {
        // `None`: the pattern is wrong (reported); `Some(None)`: no pattern, matches anything.
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
}
