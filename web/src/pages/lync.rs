//! Microsoft Lync B2BUA (Applications > B2BUA > Microsoft Lync > Configuration).

use twoleg_core::config::{Encryption, LyncB2bua};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app::Ctx;
use crate::components::field_errors::FieldErrors;
use crate::components::number_input::NumberInput;
use crate::components::text_input::TextInput;
use crate::state::Action;

#[component(Lync)]
pub(crate) fn lync() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let lync = ctx.config.config.lync_b2bua.clone();
    let set = |f: fn(&mut LyncB2bua, u64)| {
        let ctx = ctx.clone();
        let lync = lync.clone();
        Callback::from(move |value: u64| {
            let mut next = lync.clone();
            f(&mut next, value);
            ctx.config.dispatch(Action::SetLync(next));
        })
    };
    let toggle = |f: fn(&mut LyncB2bua, bool)| {
        let ctx = ctx.clone();
        let lync = lync.clone();
        Callback::from(move |e: Event| {
            let mut next = lync.clone();
            f(
                &mut next,
                e.target_unchecked_into::<HtmlInputElement>().checked(),
            );
            ctx.config.dispatch(Action::SetLync(next));
        })
    };
    let on_encryption = {
        let ctx = ctx.clone();
        let lync = lync.clone();
        Callback::from(move |e: Event| {
            let mut next = lync.clone();
            next.encryption = match e
                .target_unchecked_into::<HtmlSelectElement>()
                .value()
                .as_str()
            {
                "required" => Encryption::Required,
                _ => Encryption::Auto,
            };
            ctx.config.dispatch(Action::SetLync(next));
        })
    };
    let on_destination = {
        let ctx = ctx.clone();
        let lync = lync.clone();
        Callback::from(move |value: String| {
            let mut next = lync.clone();
            next.signalling_destination = value;
            ctx.config.dispatch(Action::SetLync(next));
        })
    };
    let errors = |field: &str| ctx.config.problems_at(&format!("lync_b2bua.{field}"));
    html! {
        <section>
            <h1>{ "Microsoft Lync B2BUA" }</h1>
            <div class="form">
                <label class="field"><span>{ "Microsoft Lync B2BUA enabled" }</span>
                    <input id="lync-enabled" type="checkbox" checked={lync.enabled} onchange={toggle(|l, v| l.enabled = v)} /></label>
                <TextInput id="lync-destination" label="Lync signaling destination (ip:port or host name)" value={lync.signalling_destination.clone()} oninput={on_destination} />
                <FieldErrors errors={errors("signalling_destination")} />
                <h2>{ "TURN" }</h2>
                <label class="field"><span>{ "Offer TURN services" }</span>
                    <input id="lync-offer-turn" type="checkbox" checked={lync.offer_turn_services} onchange={toggle(|l, v| l.offer_turn_services = v)} /></label>
                <label class="field"><span>{ "Try another TURN server when an allocation fails (beyond Expressway)" }</span>
                    <input id="lync-turn-failover" type="checkbox" checked={lync.turn_failover} onchange={toggle(|l, v| l.turn_failover = v)} /></label>
                <NumberInput id="lync-turn-wait" label="How long the INVITE waits for its TURN relays (ms)" value={lync.turn_allocation_timeout_ms} onchange={set(|l, v| l.turn_allocation_timeout_ms = v)} />
                <FieldErrors errors={errors("turn_allocation_timeout_ms")} />
                <h2>{ "Media" }</h2>
                <label class="field"><span>{ "Encryption" }</span>
                    <select id="lync-encryption" onchange={on_encryption}>
                        <option value="auto" selected={lync.encryption == Encryption::Auto}>{ "Auto" }</option>
                        <option value="required" selected={lync.encryption == Encryption::Required}>{ "Required" }</option>
                    </select></label>
                <NumberInput id="lync-media-start" label="B2BUA media port range start" value={lync.media_port_range.start} onchange={set(|l, v| l.media_port_range.start = v)} />
                <NumberInput id="lync-media-end" label="B2BUA media port range end" value={lync.media_port_range.end} onchange={set(|l, v| l.media_port_range.end = v)} />
                <FieldErrors errors={errors("media_port_range")} />
                <NumberInput id="lync-hop-count" label="Hop count" value={lync.hop_count} onchange={set(|l, v| l.hop_count = v)} />
                <FieldErrors errors={errors("hop_count")} />
                <NumberInput id="lync-session-refresh" label="Session refresh interval (seconds)" value={lync.session_refresh_interval_s} onchange={set(|l, v| l.session_refresh_interval_s = v)} />
                <FieldErrors errors={errors("session_refresh_interval_s")} />
                <NumberInput id="lync-min-session-refresh" label="Minimum session refresh interval (seconds)" value={lync.min_session_refresh_interval_s} onchange={set(|l, v| l.min_session_refresh_interval_s = v)} />
                <FieldErrors errors={errors("min_session_refresh_interval_s")} />
            </div>
        </section>
    }
}
