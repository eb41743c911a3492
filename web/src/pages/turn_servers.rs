//! B2BUA TURN servers (Applications > B2BUA > B2BUA TURN servers): list, create, edit, delete;
//! a port range adds several address/port combinations at once. Field errors show as you type.

use twoleg_core::config::{Config, Password, TurnHealth, TurnServer, ValidConfig};
use twoleg_core::turn::Health;
use yew::prelude::*;

use crate::app::Ctx;
use crate::components::field_errors::FieldErrors;
use crate::components::number_input::NumberInput;
use crate::components::text_input::TextInput;
use crate::state::Action;

/// The form's contents.
#[derive(Clone, Debug, PartialEq)]
struct Draft {
    /// The server being edited, or `None` for a new one.
    editing: Option<usize>,
    server: TurnServer,
    /// A new password, or empty to keep the one set.
    password: String,
    /// Last port of a range (0: no range).
    range_end: u64,
}

impl Draft {
    fn new() -> Self {
        Self {
            editing: None,
            server: TurnServer::default(),
            password: String::new(),
            range_end: 0,
        }
    }

    /// The server as it would be saved.
    fn server(&self) -> TurnServer {
        let mut server = self.server.clone();
        if !self.password.is_empty() {
            server.password = Password::new(self.password.clone());
        }
        server
    }

    /// Problems of the draft, validated inside the current config; paths relative to the server.
    fn problems(&self, config: &Config) -> Vec<(String, String)> {
        let mut candidate = config.clone();
        // The server being edited may have been deleted meanwhile (another tab, an import):
        // then the draft is checked as a new one.
        let index = match self
            .editing
            .filter(|index| *index < candidate.turn_servers.len())
        {
            Some(index) => {
                candidate.turn_servers[index] = self.server();
                index
            }
            None => {
                candidate.turn_servers.push(self.server());
                candidate.turn_servers.len() - 1
            }
        };
        let prefix = format!("turn_servers[{index}]");
        let mut problems: Vec<(String, String)> = match ValidConfig::validate(candidate) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .iter()
                .filter_map(|p| {
                    let path = p.path.to_string();
                    let field = path.strip_prefix(&prefix)?;
                    Some((field.trim_start_matches('.').to_owned(), p.message.clone()))
                })
                .collect(),
        };
        if self.range_end != 0
            && let Err(problem) = self.server.clone().with_port_range(self.range_end)
        {
            problems.push(("range_end".to_owned(), problem));
        }
        problems
    }
}

#[component(TurnServers)]
pub(crate) fn turn_servers() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let draft = use_state(Draft::new);
    let config = &ctx.config.config;
    let problems = draft.problems(config);
    let errors = |field: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
            .collect()
    };

    let edit = |f: fn(&mut Draft, String)| {
        let draft = draft.clone();
        Callback::from(move |value: String| {
            let mut next = (*draft).clone();
            f(&mut next, value);
            draft.set(next);
        })
    };
    let on_port = {
        let draft = draft.clone();
        Callback::from(move |port: u64| {
            let mut next = (*draft).clone();
            next.server.port = port;
            draft.set(next);
        })
    };
    let on_range = {
        let draft = draft.clone();
        Callback::from(move |end: u64| {
            let mut next = (*draft).clone();
            next.range_end = end;
            draft.set(next);
        })
    };
    let save = {
        let draft = draft.clone();
        let ctx = ctx.clone();
        let can_save = problems.is_empty();
        Callback::from(move |_: MouseEvent| {
            if !can_save {
                return;
            }
            let server = draft.server();
            match (draft.editing, draft.range_end) {
                (Some(index), _) => ctx.config.dispatch(Action::UpdateTurnServer(index, server)),
                (None, 0) => ctx.config.dispatch(Action::AddTurnServer(server)),
                (None, last_port) => ctx
                    .config
                    .dispatch(Action::AddPortRange { server, last_port }),
            }
            draft.set(Draft::new());
        })
    };
    let cancel = {
        let draft = draft.clone();
        Callback::from(move |_: MouseEvent| draft.set(Draft::new()))
    };
    let health = config.turn_health.clone();
    let set_health = |f: fn(&mut TurnHealth, u64)| {
        let ctx = ctx.clone();
        let health = health.clone();
        Callback::from(move |value: u64| {
            let mut next = health.clone();
            f(&mut next, value);
            ctx.config.dispatch(Action::SetTurnHealth(next));
        })
    };
    let health_errors = |field: &str| ctx.config.problems_at(&format!("turn_health.{field}"));

    let rows = config
        .turn_servers
        .iter()
        .enumerate()
        .map(|(index, server)| {
            let on_edit = {
                let draft = draft.clone();
                let server = server.clone();
                Callback::from(move |_: MouseEvent| {
                    draft.set(Draft {
                        editing: Some(index),
                        server: server.clone(),
                        password: String::new(),
                        range_end: 0,
                    })
                })
            };
            let on_delete = {
                let ctx = ctx.clone();
                Callback::from(move |_: MouseEvent| {
                    ctx.config.dispatch(Action::DeleteTurnServer(index))
                })
            };
            let ports: Vec<String> = std::iter::once(server.port)
                .chain(server.additional_addresses.iter().map(|a| a.port))
                .map(|p| p.to_string())
                .collect();
            let row_errors = ctx.config.problems_at(&format!("turn_servers[{index}]"));
            let health = health_text(&ctx.view.turn_health, server);
            html! {
                <tr class="turn-server-row">
                    <td>{ &server.address }</td>
                    <td>{ ports.join(", ") }</td>
                    <td>{ &server.description }</td>
                    <td>{ &server.username }</td>
                    <td>{ if server.password.is_empty() { "not set" } else { "set" } }</td>
                    <td class="health">{ health }</td>
                    <td>
                        <button class="edit" onclick={on_edit}>{ "Edit" }</button>
                        <button class="delete" onclick={on_delete}>{ "Delete" }</button>
                        <FieldErrors errors={row_errors} />
                    </td>
                </tr>
            }
        });

    html! {
        <section>
            <h1>{ "B2BUA TURN servers" }</h1>
            <p class="hint">
                { "The B2BUA offers one of these, chosen by random load balancing among every available address/port combination, when Offer TURN services is on." }
            </p>
            <table id="turn-servers">
                <thead><tr><th>{ "TURN server address" }</th><th>{ "Port(s)" }</th><th>{ "Description" }</th><th>{ "Username" }</th><th>{ "Password" }</th><th>{ "Health (simulator)" }</th><th></th></tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
            <h2>{ "Health probes (beyond Expressway)" }</h2>
            <div class="form" id="turn-health">
                <NumberInput id="turn-probe-interval" label="STUN Binding probe interval (ms, 0 = off)" value={health.probe_interval_ms} onchange={set_health(|h, v| h.probe_interval_ms = v)} />
                <FieldErrors errors={health_errors("probe_interval_ms")} />
                <NumberInput id="turn-probe-failures" label="Missed probes before a server is marked down" value={health.failures_before_down} onchange={set_health(|h, v| h.failures_before_down = v)} />
                <FieldErrors errors={health_errors("failures_before_down")} />
            </div>
            <h2>{ if draft.editing.is_some() { "Edit TURN server" } else { "Create TURN server" } }</h2>
            <div class="form" id="turn-form">
                <TextInput id="turn-address" label="TURN server address" value={draft.server.address.clone()} oninput={edit(|d, v| d.server.address = v)} />
                <FieldErrors errors={errors("address")} />
                <NumberInput id="turn-port" label="TURN server port" value={draft.server.port} onchange={on_port} />
                <FieldErrors errors={errors("port")} />
                if draft.editing.is_none() {
                    <NumberInput id="turn-range-end" label="Port range end (optional: one combination per port)" value={draft.range_end} onchange={on_range} />
                    <FieldErrors errors={errors("range_end")} />
                }
                <TextInput id="turn-description" label="Description" value={draft.server.description.clone()} oninput={edit(|d, v| d.server.description = v)} />
                <TextInput id="turn-username" label="TURN services username" value={draft.server.username.clone()} oninput={edit(|d, v| d.server.username = v)} />
                <FieldErrors errors={errors("username")} />
                <TextInput id="turn-password" kind="password" label="TURN services password"
                    placeholder={if draft.editing.is_some() { "unchanged" } else { "" }}
                    value={draft.password.clone()} oninput={edit(|d, v| d.password = v)} />
                <FieldErrors errors={errors("password")} />
                <button id="turn-save" onclick={save} disabled={!problems.is_empty()}>{ "Save" }</button>
                if draft.editing.is_some() {
                    <button onclick={cancel}>{ "Cancel" }</button>
                }
            </div>
        </section>
    }
}

/// The health the simulated engine sees for a server's combinations: "up", "down", or per
/// port when they differ; "-" when no simulation runs.
fn health_text(health: &[(std::net::SocketAddr, Health)], server: &TurnServer) -> String {
    let ports = std::iter::once((server.address.as_str(), server.port)).chain(
        server
            .additional_addresses
            .iter()
            .map(|a| (a.address.as_str(), a.port)),
    );
    let states: Vec<(u64, Health)> = ports
        .filter_map(|(address, port)| {
            health
                .iter()
                .find(|(a, _)| a.ip().to_string() == address && u64::from(a.port()) == port)
                .map(|(_, h)| (port, *h))
        })
        .collect();
    let word = |h: Health| if h == Health::Up { "up" } else { "down" };
    match states.as_slice() {
        [] => "-".to_owned(),
        [(_, first), rest @ ..] if rest.iter().all(|(_, h)| h == first) => word(*first).to_owned(),
        all => all
            .iter()
            .map(|(port, h)| format!("{port} {}", word(*h)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
