//! Zones and media encryption: each zone's peers (IP addresses or CIDR blocks), media
//! encryption mode, whether its calls are taken and its authentication policy, the default
//! zone's, and the encryption B2BUA's limits, in Expressway's words.

use twoleg_core::config::{
    AuthenticationPolicy, CallAcceptance, DefaultZone, EncryptionB2bua, MediaEncryptionMode, Zone,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::app::Ctx;
use crate::components::credentials_editor::CredentialsEditor;
use crate::components::field_errors::FieldErrors;
use crate::components::number_input::NumberInput;
use crate::components::text_input::TextInput;
use crate::state::Action;

/// Expressway's modes, as its zone pages name them.
const MODES: [(MediaEncryptionMode, &str, &str); 4] = [
    (
        MediaEncryptionMode::ForceEncrypted,
        "force_encrypted",
        "Force encrypted",
    ),
    (
        MediaEncryptionMode::ForceUnencrypted,
        "force_unencrypted",
        "Force unencrypted",
    ),
    (
        MediaEncryptionMode::BestEffort,
        "best_effort",
        "Best effort",
    ),
    (MediaEncryptionMode::Auto, "auto", "Auto"),
];

fn mode_of(value: &str) -> MediaEncryptionMode {
    MODES
        .iter()
        .find(|(_, key, _)| *key == value)
        .map_or(MediaEncryptionMode::Auto, |(mode, _, _)| *mode)
}

fn mode_select(id: String, mode: MediaEncryptionMode, onchange: Callback<Event>) -> Html {
    html! {
        <label class="field"><span>{ "Media encryption mode" }</span>
            <select {id} {onchange}>
                { for MODES.iter().map(|(m, key, label)| html! {
                    <option value={*key} selected={*m == mode}>{ *label }</option>
                }) }
            </select>
        </label>
    }
}

/// Whether a zone's calls are taken.
const CALLS: [(CallAcceptance, &str, &str); 3] = [
    (CallAcceptance::Accept, "accept", "Accept"),
    (CallAcceptance::Refuse, "refuse", "Refuse (403 Forbidden)"),
    (CallAcceptance::Drop, "drop", "Drop (no answer)"),
];

/// Expressway's authentication policies.
const POLICIES: [(AuthenticationPolicy, &str, &str); 3] = [
    (
        AuthenticationPolicy::CheckCredentials,
        "check_credentials",
        "Check credentials",
    ),
    (
        AuthenticationPolicy::DoNotCheckCredentials,
        "do_not_check_credentials",
        "Do not check credentials",
    ),
    (
        AuthenticationPolicy::TreatAsAuthenticated,
        "treat_as_authenticated",
        "Treat as authenticated",
    ),
];

/// A select over `options` (value, key, label) showing `current`.
fn choice<T: Copy + PartialEq>(
    id: String,
    label: &'static str,
    options: &[(T, &'static str, &'static str)],
    current: T,
    onchange: Callback<Event>,
) -> Html {
    html! {
        <label class="field"><span>{ label }</span>
            <select {id} {onchange}>
                { for options.iter().map(|(value, key, text)| html! {
                    <option value={*key} selected={*value == current}>{ *text }</option>
                }) }
            </select>
        </label>
    }
}

/// The option of `options` whose key is the select's value.
fn chosen<T: Copy>(options: &[(T, &'static str, &'static str)], e: &Event) -> Option<T> {
    let value = e.target_unchecked_into::<HtmlSelectElement>().value();
    options
        .iter()
        .find(|(_, key, _)| *key == value)
        .map(|(v, _, _)| *v)
}

#[component(Zones)]
pub(crate) fn zones() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let config = &ctx.config.config;
    let (zones, default_zone, b2bua) = (
        config.zones.clone(),
        config.default_zone.clone(),
        config.encryption_b2bua.clone(),
    );
    let set = {
        let ctx = ctx.clone();
        move |zones: Vec<Zone>, default_zone: DefaultZone, b2bua: EncryptionB2bua| {
            ctx.config.dispatch(Action::SetMediaPolicy {
                zones,
                default_zone,
                encryption_b2bua: b2bua,
            });
        }
    };
    let rows = zones.iter().enumerate().map(|(i, zone)| {
        let text = |f: fn(&mut Zone, String)| {
            let (set, zones, default_zone, b2bua) =
                (set.clone(), zones.clone(), default_zone.clone(), b2bua.clone());
            Callback::from(move |value: String| {
                let mut next = zones.clone();
                f(&mut next[i], value);
                set(next, default_zone.clone(), b2bua.clone());
            })
        };
        let on_mode = {
            let (set, zones, default_zone, b2bua) =
                (set.clone(), zones.clone(), default_zone.clone(), b2bua.clone());
            Callback::from(move |e: Event| {
                let mut next = zones.clone();
                next[i].media_encryption_mode =
                    mode_of(&e.target_unchecked_into::<HtmlSelectElement>().value());
                set(next, default_zone.clone(), b2bua.clone());
            })
        };
        let select = |f: fn(&mut Zone, &Event)| {
            let (set, zones, default_zone, b2bua) =
                (set.clone(), zones.clone(), default_zone.clone(), b2bua.clone());
            Callback::from(move |e: Event| {
                let mut next = zones.clone();
                f(&mut next[i], &e);
                set(next, default_zone.clone(), b2bua.clone());
            })
        };
        let on_calls = select(|z, e| {
            if let Some(calls) = chosen(&CALLS, e) {
                z.calls = calls;
            }
        });
        let on_policy = select(|z, e| {
            if let Some(policy) = chosen(&POLICIES, e) {
                z.authentication_policy = policy;
            }
        });
        let delete = {
            let (set, zones, default_zone, b2bua) =
                (set.clone(), zones.clone(), default_zone.clone(), b2bua.clone());
            Callback::from(move |_: MouseEvent| {
                let mut next = zones.clone();
                if i < next.len() {
                    next.remove(i);
                }
                set(next, default_zone.clone(), b2bua.clone());
            })
        };
        html! {
            <div class="route">
                <TextInput id={format!("zone-{i}-name")} label="Name" value={zone.name.clone()} oninput={text(|z, v| z.name = v)} />
                <TextInput id={format!("zone-{i}-peers")} label="Peers (IP addresses or CIDR blocks, comma-separated)" value={zone.peers.join(", ")}
                    oninput={text(|z, v| z.peers = v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())} />
                { mode_select(format!("zone-{i}-mode"), zone.media_encryption_mode, on_mode) }
                { choice(format!("zone-{i}-calls"), "Calls", &CALLS, zone.calls, on_calls) }
                { choice(format!("zone-{i}-authentication"), "Authentication policy", &POLICIES, zone.authentication_policy, on_policy) }
                <button id={format!("zone-{i}-delete")} onclick={delete}>{ "Delete zone" }</button>
                <FieldErrors errors={ctx.config.problems_at(&format!("zones[{i}]"))} />
            </div>
        }
    });
    let add = {
        let (set, zones, default_zone, b2bua) = (
            set.clone(),
            zones.clone(),
            default_zone.clone(),
            b2bua.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let mut next = zones.clone();
            next.push(Zone {
                name: format!("zone {}", next.len() + 1),
                ..Zone::default()
            });
            set(next, default_zone.clone(), b2bua.clone());
        })
    };
    let on_default = {
        let (set, zones, b2bua, default_zone) = (
            set.clone(),
            zones.clone(),
            b2bua.clone(),
            default_zone.clone(),
        );
        Callback::from(move |e: Event| {
            let default_zone = DefaultZone {
                media_encryption_mode: mode_of(
                    &e.target_unchecked_into::<HtmlSelectElement>().value(),
                ),
                ..default_zone.clone()
            };
            set(zones.clone(), default_zone, b2bua.clone());
        })
    };
    let default_select = |f: fn(&mut DefaultZone, &Event)| {
        let (set, zones, b2bua, default_zone) = (
            set.clone(),
            zones.clone(),
            b2bua.clone(),
            default_zone.clone(),
        );
        Callback::from(move |e: Event| {
            let mut next = default_zone.clone();
            f(&mut next, &e);
            set(zones.clone(), next, b2bua.clone());
        })
    };
    let on_default_calls = default_select(|z, e| {
        if let Some(calls) = chosen(&CALLS, e) {
            z.calls = calls;
        }
    });
    let on_default_policy = default_select(|z, e| {
        if let Some(policy) = chosen(&POLICIES, e) {
            z.authentication_policy = policy;
        }
    });
    let set_b2bua = |f: fn(&mut EncryptionB2bua, u64)| {
        let (set, zones, default_zone, b2bua) = (
            set.clone(),
            zones.clone(),
            default_zone.clone(),
            b2bua.clone(),
        );
        Callback::from(move |value: u64| {
            let mut next = b2bua.clone();
            f(&mut next, value);
            set(zones.clone(), default_zone.clone(), next);
        })
    };
    html! {
        <section>
            <h1>{ "Zones and media encryption" }</h1>
            <p>{ "A call's leg takes the media encryption mode of its peer's zone. When either leg's mode is not Auto, the B2BUA takes the media and encrypts or decrypts it per leg. A zone's calls are accepted, refused (403) or dropped; with Check credentials they are challenged (407, digest) against the config's credentials." }</p>
            { for rows }
            <button id="zone-add" onclick={add}>{ "Add zone" }</button>
            <h2>{ "Default zone" }</h2>
            <div class="form">
                { mode_select("default-zone-mode".to_owned(), default_zone.media_encryption_mode, on_default) }
                { choice("default-zone-calls".to_owned(), "Calls", &CALLS, default_zone.calls, on_default_calls) }
                { choice("default-zone-authentication".to_owned(), "Authentication policy", &POLICIES, default_zone.authentication_policy, on_default_policy) }
                <FieldErrors errors={ctx.config.problems_at("default_zone")} />
            </div>
            <CredentialsEditor />
            <h2>{ "Encryption B2BUA" }</h2>
            <div class="form">
                <NumberInput id="encryption-max-calls" label="Calls at most (then 503)" value={b2bua.max_calls} onchange={set_b2bua(|b, v| b.max_calls = v)} />
                <NumberInput id="encryption-ports-start" label="Media port range start" value={b2bua.media_port_range.start} onchange={set_b2bua(|b, v| b.media_port_range.start = v)} />
                <NumberInput id="encryption-ports-end" label="Media port range end" value={b2bua.media_port_range.end} onchange={set_b2bua(|b, v| b.media_port_range.end = v)} />
                <NumberInput id="encryption-media-timeout" label="Media timeout (s without media on either leg, 0 = never)" value={b2bua.media_timeout_s} onchange={set_b2bua(|b, v| b.media_timeout_s = v)} />
                <FieldErrors errors={ctx.config.problems_at("encryption_b2bua")} />
            </div>
        </section>
    }
}
