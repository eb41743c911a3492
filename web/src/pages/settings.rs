//! B2BUA settings: the SIP listeners (with their transports), transaction timers, TCP and TLS
//! connection limits, and the routes.

use twoleg_core::config::{Destination, Listener, Pattern, Route, SipSettings, UnknownHeaders};
use twoleg_core::turn::Health;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app::Ctx;
use crate::components::field_errors::FieldErrors;
use crate::components::listener_editor::ListenerEditor;
use crate::components::number_input::NumberInput;
use crate::components::pattern_input::PatternInput;
use crate::components::text_input::TextInput;
use crate::state::Action;

#[component(Settings)]
pub(crate) fn settings() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let sip = ctx.config.config.sip.clone();
    let routes = ctx.config.config.routes.clone();
    let set_sip = |f: fn(&mut SipSettings, u64)| {
        let ctx = ctx.clone();
        let sip = sip.clone();
        Callback::from(move |value: u64| {
            let mut next = sip.clone();
            f(&mut next, value);
            ctx.config.dispatch(Action::SetSip(next));
        })
    };
    let listeners = sip.listeners.iter().enumerate().map(|(i, listener)| {
        let onchange = {
            let ctx = ctx.clone();
            let sip = sip.clone();
            Callback::from(move |listener: Listener| {
                let mut next = sip.clone();
                if let Some(slot) = next.listeners.get_mut(i) {
                    *slot = listener;
                }
                ctx.config.dispatch(Action::SetSip(next));
            })
        };
        let delete = {
            let ctx = ctx.clone();
            let sip = sip.clone();
            Callback::from(move |_: MouseEvent| {
                let mut next = sip.clone();
                if i < next.listeners.len() {
                    next.listeners.remove(i);
                }
                ctx.config.dispatch(Action::SetSip(next));
            })
        };
        html! {
            <div class="route">
                <ListenerEditor index={i} listener={listener.clone()} {onchange} />
                <button id={format!("listener-{i}-delete")} onclick={delete}>{ "Delete listener" }</button>
                <FieldErrors errors={ctx.config.problems_at(&format!("sip.listeners[{i}]"))} />
            </div>
        }
    });
    let add_listener = {
        let ctx = ctx.clone();
        let sip = sip.clone();
        Callback::from(move |_: MouseEvent| {
            let mut next = sip.clone();
            next.listeners.push(Listener {
                name: format!("listener{}", next.listeners.len()),
                address: String::new(),
                ..Listener::default()
            });
            ctx.config.dispatch(Action::SetSip(next));
        })
    };
    let route_rows = routes.iter().enumerate().map(|(i, route)| {
        let update = |f: fn(&mut Route, String)| {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |value: String| {
                let mut next = routes.clone();
                f(&mut next[i], value);
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let set_pattern = |user: bool| {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |pattern: Option<Pattern>| {
                let mut next = routes.clone();
                if user {
                    next[i].matcher.user = pattern;
                } else {
                    next[i].matcher.host = pattern;
                }
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let on_large = {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |e: Event| {
                let mut next = routes.clone();
                next[i].large_requests_over_tcp =
                    e.target_unchecked_into::<HtmlInputElement>().checked();
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let on_lync = {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |e: Event| {
                let mut next = routes.clone();
                next[i].lync = e.target_unchecked_into::<HtmlInputElement>().checked();
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let on_unknown = {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |e: Event| {
                let mut next = routes.clone();
                next[i].unknown_headers =
                    match e.target_unchecked_into::<HtmlSelectElement>().value().as_str() {
                        "strip" => UnknownHeaders::Strip,
                        "allow_list" => UnknownHeaders::AllowList,
                        _ => UnknownHeaders::Pass,
                    };
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let allowed = route.allowed_headers.join(", ");
        let destinations = destinations_text(&route.destinations);
        let set_destinations = {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |text: String| {
                let mut next = routes.clone();
                next[i].destinations = parse_destinations(&text);
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let route_name = if route.name.is_empty() {
            format!("route {i}")
        } else {
            route.name.clone()
        };
        let health: Vec<String> = ctx
            .view
            .destinations
            .iter()
            .filter(|d| d.route == route_name)
            .map(|d| {
                let word = if d.health == Health::Up { "up" } else { "down" };
                format!("{} {word} ({} calls, {} pings)", d.address, d.calls, d.pings_sent)
            })
            .collect();
        let set_route_number = |f: fn(&mut Route, u64)| {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |value: u64| {
                let mut next = routes.clone();
                f(&mut next[i], value);
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        let delete = {
            let ctx = ctx.clone();
            let routes = routes.clone();
            Callback::from(move |_: MouseEvent| {
                let mut next = routes.clone();
                next.remove(i);
                ctx.config.dispatch(Action::SetRoutes(next));
            })
        };
        html! {
            <div class="route">
                <TextInput id={format!("route-{i}-name")} label="Name" value={route.name.clone()} oninput={update(|r, v| r.name = v)} />
                <PatternInput id={format!("route-{i}-user")} label="Request-URI user" pattern={route.matcher.user.clone()} onchange={set_pattern(true)} />
                <PatternInput id={format!("route-{i}-host")} label="Request-URI host" pattern={route.matcher.host.clone()} onchange={set_pattern(false)} />
                <TextInput id={format!("route-{i}-destination")} label="Destination (ip:port)" value={route.destination.clone()} oninput={update(|r, v| r.destination = v)} />
                <TextInput id={format!("route-{i}-destinations")} label="Or several destinations: ip:port priority weight, comma-separated (lowest priority first; calls shared by weight)" value={destinations} oninput={set_destinations} />
                <NumberInput id={format!("route-{i}-failover-after")} label="Fail over after no answer for (ms; 0: Timer B)" value={route.failover_after_ms} onchange={set_route_number(|r, v| r.failover_after_ms = v)} />
                <NumberInput id={format!("route-{i}-ping-interval")} label="OPTIONS ping interval (s; 0: no pings)" value={route.ping_interval_s} onchange={set_route_number(|r, v| r.ping_interval_s = v)} />
                <NumberInput id={format!("route-{i}-ping-failures")} label="Missed pings before a destination is down (0: 3)" value={route.ping_failures_before_down} onchange={set_route_number(|r, v| r.ping_failures_before_down = v)} />
                <p class="health" id={format!("route-{i}-health")}>{ format!("Destination health (simulator): {}", if health.is_empty() { "no simulator running".to_owned() } else { health.join("; ") }) }</p>
                <TextInput id={format!("route-{i}-rewrite-user")} label="Request-URI user on leg B (empty: kept)" value={route.rewrite_user.clone()} oninput={update(|r, v| r.rewrite_user = v)} />
                <TextInput id={format!("route-{i}-rewrite-host")} label="Request-URI host[:port] on leg B (empty: kept)" value={route.rewrite_host.clone()} oninput={update(|r, v| r.rewrite_host = v)} />
                <TextInput id={format!("route-{i}-listener")} label="Listener (name; its transport is the B leg's; empty: the first)" value={route.listener.clone()} oninput={update(|r, v| r.listener = v)} />
                <label class="field"><span>{ "Requests over 1,300 bytes go over TCP (UDP routes)" }</span>
                    <input id={format!("route-{i}-large")} type="checkbox" checked={route.large_requests_over_tcp} onchange={on_large} /></label>
                <TextInput id={format!("route-{i}-tls-name")} label="TLS server name (TLS routes; empty: the IP)" value={route.tls_server_name.clone()} oninput={update(|r, v| r.tls_server_name = v)} />
                <label class="field"><span>{ "Through the Microsoft Lync B2BUA" }</span>
                    <input type="checkbox" checked={route.lync} onchange={on_lync} /></label>
                <label class="field"><span>{ "Unknown headers" }</span>
                    <select id={format!("route-{i}-unknown-headers")} onchange={on_unknown}>
                        <option value="pass" selected={route.unknown_headers == UnknownHeaders::Pass}>{ "Pass to the other leg" }</option>
                        <option value="strip" selected={route.unknown_headers == UnknownHeaders::Strip}>{ "Strip" }</option>
                        <option value="allow_list" selected={route.unknown_headers == UnknownHeaders::AllowList}>{ "Pass only those listed" }</option>
                    </select></label>
                <NumberInput id={format!("route-{i}-session-refresh")} label="Session refresh interval (s; 0: the SIP settings')" value={route.session_refresh_interval_s} onchange={set_route_number(|r, v| r.session_refresh_interval_s = v)} />
                <NumberInput id={format!("route-{i}-min-session-refresh")} label="Minimum session refresh interval (s; 0: the SIP settings')" value={route.min_session_refresh_interval_s} onchange={set_route_number(|r, v| r.min_session_refresh_interval_s = v)} />
                <TextInput id={format!("route-{i}-allowed-headers")} label="Headers that pass (comma-separated, with the allow list)" value={allowed} oninput={update(|r, v| r.allowed_headers = v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())} />
                <button onclick={delete}>{ "Delete route" }</button>
                <FieldErrors errors={ctx.config.problems_at(&format!("routes[{i}]"))} />
            </div>
        }
    });
    let add_route = {
        let ctx = ctx.clone();
        let routes = routes.clone();
        Callback::from(move |_: MouseEvent| {
            let mut next = routes.clone();
            next.push(Route {
                name: format!("route {}", next.len()),
                destination: "127.0.0.1:5070".to_owned(),
                ..Route::default()
            });
            ctx.config.dispatch(Action::SetRoutes(next));
        })
    };
    html! {
        <section>
            <h1>{ "B2BUA settings" }</h1>
            <h2>{ "SIP listeners" }</h2>
            { for listeners }
            <button onclick={add_listener}>{ "Add listener" }</button>
            <h2>{ "Timers and hop count" }</h2>
            <div class="form">
                <NumberInput id="t1" label="T1 (ms)" value={sip.timers.t1_ms} onchange={set_sip(|s, v| s.timers.t1_ms = v)} />
                <NumberInput id="t2" label="T2 (ms)" value={sip.timers.t2_ms} onchange={set_sip(|s, v| s.timers.t2_ms = v)} />
                <NumberInput id="t4" label="T4 (ms)" value={sip.timers.t4_ms} onchange={set_sip(|s, v| s.timers.t4_ms = v)} />
                <FieldErrors errors={ctx.config.problems_at("sip.timers")} />
                <NumberInput id="max-forwards" label="Hop count (Max-Forwards)" value={sip.max_forwards} onchange={set_sip(|s, v| s.max_forwards = v)} />
                <NumberInput id="ring-timeout" label="Ring timeout (s, 0 = none)" value={sip.ring_timeout_s} onchange={set_sip(|s, v| s.ring_timeout_s = v)} />
                <FieldErrors errors={ctx.config.problems_at("sip.max_forwards")} />
                <NumberInput id="session-refresh" label="Session refresh interval (s)" value={sip.session_refresh_interval_s} onchange={set_sip(|s, v| s.session_refresh_interval_s = v)} />
                <FieldErrors errors={ctx.config.problems_at("sip.session_refresh_interval_s")} />
                <NumberInput id="min-session-refresh" label="Minimum session refresh interval (s)" value={sip.min_session_refresh_interval_s} onchange={set_sip(|s, v| s.min_session_refresh_interval_s = v)} />
                <FieldErrors errors={ctx.config.problems_at("sip.min_session_refresh_interval_s")} />
            </div>
            <h2>{ "TCP and TLS connections" }</h2>
            <div class="form">
                <NumberInput id="connections-max" label="Open connections at most" value={sip.connections.max} onchange={set_sip(|s, v| s.connections.max = v)} />
                <NumberInput id="connections-idle" label="Idle timeout (s)" value={sip.connections.idle_timeout_s} onchange={set_sip(|s, v| s.connections.idle_timeout_s = v)} />
                <NumberInput id="connections-handshake" label="Handshake timeout (ms)" value={sip.connections.handshake_timeout_ms} onchange={set_sip(|s, v| s.connections.handshake_timeout_ms = v)} />
                <FieldErrors errors={ctx.config.problems_at("sip.connections")} />
            </div>
            <h2>{ "Routes (first match wins)" }</h2>
            { for route_rows }
            <button onclick={add_route}>{ "Add route" }</button>
        </section>
    }
}

/// A route's destinations as the editor shows them: `ip:port priority weight`, comma-separated.
fn destinations_text(destinations: &[Destination]) -> String {
    destinations
        .iter()
        .map(|d| format!("{} {} {}", d.address, d.priority, d.weight))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The editor's text back into destinations; a priority or weight that is not a number leaves
/// the whole entry in `address`, for the config check to name it.
fn parse_destinations(text: &str) -> Vec<Destination> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut words = entry.split_whitespace();
            let address = words.next().unwrap_or_default().to_owned();
            let numbers: Result<Vec<u16>, _> = words.map(str::parse::<u16>).collect();
            match numbers.as_deref() {
                Ok([]) => Destination {
                    address,
                    ..Destination::default()
                },
                Ok([priority]) => Destination {
                    address,
                    priority: *priority,
                    ..Destination::default()
                },
                Ok([priority, weight]) => Destination {
                    address,
                    priority: *priority,
                    weight: *weight,
                },
                _ => Destination {
                    address: entry.to_owned(),
                    ..Destination::default()
                },
            }
        })
        .collect()
}
