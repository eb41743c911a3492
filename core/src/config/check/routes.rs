//! Routes and how they match the Request-URI.

use super::Checker;
use crate::Transport;
use crate::config::model::{self, Config};
use crate::config::plans::{HeaderPolicy, ListenerPlan, Matcher, RoutePlan};
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
