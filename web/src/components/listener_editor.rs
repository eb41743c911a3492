//! One SIP listener: its address, transport (UDP, TCP, TLS) and, for TLS, the names of its
//! certificate, key and CA files (the browser cannot read the runner's files: they are text
//! here, and `twoleg check` opens them).

use twoleg_core::config::{Listener, TlsFiles};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::components::number_input::NumberInput;
use crate::components::text_input::TextInput;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct ListenerEditorProps {
    pub(crate) index: usize,
    pub(crate) listener: Listener,
    pub(crate) onchange: Callback<Listener>,
}

#[component(ListenerEditor)]
pub(crate) fn listener_editor(props: &ListenerEditorProps) -> Html {
    let i = props.index;
    let listener = props.listener.clone();
    let change = |f: fn(&mut Listener, String)| {
        let listener = listener.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |value: String| {
            let mut next = listener.clone();
            f(&mut next, value);
            onchange.emit(next);
        })
    };
    let on_transport = {
        let listener = listener.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |e: Event| {
            let mut next = listener.clone();
            next.transport = e.target_unchecked_into::<HtmlSelectElement>().value();
            next.tls = (next.transport == "tls").then(|| next.tls.clone().unwrap_or_default());
            onchange.emit(next);
        })
    };
    let tls_field = |f: fn(&mut TlsFiles, String)| {
        let listener = listener.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |value: String| {
            let mut next = listener.clone();
            f(next.tls.get_or_insert_with(TlsFiles::default), value);
            onchange.emit(next);
        })
    };
    let on_mutual = {
        let listener = listener.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |e: Event| {
            let mut next = listener.clone();
            next.tls
                .get_or_insert_with(TlsFiles::default)
                .require_client_certificate =
                e.target_unchecked_into::<HtmlInputElement>().checked();
            onchange.emit(next);
        })
    };
    let transport = if listener.transport.is_empty() {
        "udp".to_owned()
    } else {
        listener.transport.to_ascii_lowercase()
    };
    let limit = |f: fn(&mut Listener, u64)| {
        let listener = listener.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |value: u64| {
            let mut next = listener.clone();
            f(&mut next, value);
            onchange.emit(next);
        })
    };
    let tls = listener.tls.clone().unwrap_or_default();
    html! {
        <div class="listener">
            <TextInput id={format!("listener-{i}-name")} label="Name" value={listener.name.clone()} oninput={change(|l, v| l.name = v)} />
            <TextInput id={format!("listener-{i}")} label="Address (ip:port)" value={listener.address.clone()} oninput={change(|l, v| l.address = v)} />
            <label class="field"><span>{ "Transport" }</span>
                <select id={format!("listener-{i}-transport")} onchange={on_transport}>
                    { for ["udp", "tcp", "tls"].iter().map(|t| html! {
                        <option value={*t} selected={transport == *t}>{ t.to_uppercase() }</option>
                    }) }
                </select>
            </label>
            <NumberInput id={format!("listener-{i}-max-calls")} label="Concurrent calls arriving here at most (0: no limit)" value={listener.max_calls} onchange={limit(|l, v| l.max_calls = v)} />
            <NumberInput id={format!("listener-{i}-max-cps")} label="New calls arriving here per second at most (0: no limit)" value={listener.max_calls_per_second} onchange={limit(|l, v| l.max_calls_per_second = v)} />
            if transport == "tls" {
                <TextInput id={format!("listener-{i}-chain")} label="Certificate chain file (PEM)" value={tls.certificate_chain.clone()} oninput={tls_field(|t, v| t.certificate_chain = v)} />
                <TextInput id={format!("listener-{i}-key")} label="Private key file (PEM)" value={tls.private_key.clone()} oninput={tls_field(|t, v| t.private_key = v)} />
                <TextInput id={format!("listener-{i}-ca")} label="Trusted CA file (PEM; empty: web PKI for servers)" value={tls.ca.clone()} oninput={tls_field(|t, v| t.ca = v)} />
                <label class="field"><span>{ "Require a client certificate (mutual TLS)" }</span>
                    <input id={format!("listener-{i}-mutual")} type="checkbox" checked={tls.require_client_certificate} onchange={on_mutual} /></label>
            }
        </div>
    }
}
