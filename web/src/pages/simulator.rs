//! The simulator: place calls through the real engine, with chosen caller and callee behaviour,
//! the caller's transport (UDP, or a TCP or TLS stream to a listener of that transport), what
//! media each end offers (clear RTP, SRTP, opportunistic SRTP) and how many packets it sends,
//! link loss and latency, seed and speed; one call or a batch. The caller may come from any
//! address (a zone that refuses calls, say) and answer a 407 with the config's first user's
//! password, or a wrong one.

use std::time::Duration;

use twoleg_core::Transport;
use twoleg_core::config::ValidConfig;
use twoleg_sim::{CalleeScript, CallerScript, LinkConditions, MediaSecurity, SimCredentials};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app::{Ctx, wall_ms};
use crate::sim_state::{Plan, SimHandle, Speed};

/// The simulator form.
#[derive(Clone, Debug, PartialEq)]
struct Form {
    caller: String,
    caller_ms: u64,
    caller_transport: Transport,
    callee: String,
    callee_ms: u64,
    hang_up_ms: u64,
    calls: u64,
    loss_percent: u64,
    latency_ms: u64,
    seed: u64,
    speed: Speed,
    uri: String,
    caller_media: MediaSecurity,
    callee_media: MediaSecurity,
    media_packets: u32,
    /// `none`, `right` (the config's first user) or `wrong`.
    credentials: String,
    caller_address: String,
}

impl Default for Form {
    fn default() -> Self {
        Self {
            caller: "never".to_owned(),
            caller_ms: 3_000,
            caller_transport: Transport::Udp,
            callee: "answer".to_owned(),
            callee_ms: 500,
            hang_up_ms: 3_000,
            calls: 1,
            loss_percent: 0,
            latency_ms: 20,
            seed: 1,
            speed: Speed::TenTimes,
            uri: "sip:bob@example.com".to_owned(),
            caller_media: MediaSecurity::Rtp,
            callee_media: MediaSecurity::Rtp,
            media_packets: 5,
            credentials: "none".to_owned(),
            caller_address: "127.0.0.1:5080".to_owned(),
        }
    }
}

impl Form {
    /// The caller's credentials: the config's first user, with the right or a wrong password.
    fn credentials(&self, config: &ValidConfig) -> Option<SimCredentials> {
        let (username, password) = config.authentication().credentials.iter().next()?;
        let password = match self.credentials.as_str() {
            "right" => password.expose().to_owned(),
            "wrong" => format!("{}-wrong", password.expose()),
            _ => return None,
        };
        Some(SimCredentials {
            username: username.clone(),
            password,
        })
    }

    fn plan(&self, config: &ValidConfig) -> Plan {
        let ms = Duration::from_millis;
        let caller = CallerScript {
            uri: Some(self.uri.clone()),
            cancel_after: (self.caller == "cancel").then(|| ms(self.caller_ms)),
            hang_up_after: (self.caller == "hangup").then(|| ms(self.caller_ms)),
            reinvite_after: None,
            late_offer: false,
            media: self.caller_media,
            credentials: self.credentials(config),
        };
        let callee = match self.callee.as_str() {
            "busy" => CalleeScript::Reject {
                code: 486,
                after: ms(self.callee_ms),
            },
            "noanswer" => CalleeScript::NoAnswer,
            "silent" => CalleeScript::Silent,
            "answer-hangup" => CalleeScript::Answer {
                after: ms(self.callee_ms),
                hang_up_after: Some(ms(self.hang_up_ms)),
            },
            _ => CalleeScript::Answer {
                after: ms(self.callee_ms),
                hang_up_after: None,
            },
        };
        Plan {
            caller,
            callee,
            calls: u32::try_from(self.calls.clamp(1, 100_000)).unwrap_or(1),
            spacing_ms: 10,
            link: LinkConditions {
                latency: ms(self.latency_ms),
                jitter: Duration::ZERO,
                loss: (self.loss_percent.min(100) as f64) / 100.0,
            },
            seed: self.seed,
            caller_transport: self.caller_transport,
            media_packets: self.media_packets.min(1_000),
            callee_media: self.callee_media,
            caller_address: self
                .caller_address
                .trim()
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 5080).into()),
        }
    }
}

#[component(Simulator)]
pub(crate) fn simulator() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let form = use_state(Form::default);
    let valid = ctx.config.valid();

    let text = |f: fn(&mut Form, String)| {
        let form = form.clone();
        Callback::from(move |e: Event| {
            let mut next = (*form).clone();
            let target = e.target_unchecked_into::<HtmlInputElement>();
            f(&mut next, target.value());
            form.set(next);
        })
    };
    let select = |f: fn(&mut Form, String)| {
        let form = form.clone();
        Callback::from(move |e: Event| {
            let mut next = (*form).clone();
            f(
                &mut next,
                e.target_unchecked_into::<HtmlSelectElement>().value(),
            );
            form.set(next);
        })
    };
    let place = {
        let ctx = ctx.clone();
        let form = form.clone();
        let valid = valid.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(config) = &valid else {
                return;
            };
            {
                let mut sim = ctx.sim.borrow_mut();
                sim.speed = form.speed;
                sim.place(config, &form.plan(config), wall_ms());
            }
            ctx.refresh();
        })
    };
    let reset = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| {
            *ctx.sim.borrow_mut() = SimHandle::default();
            ctx.refresh();
        })
    };
    let view = &ctx.view;
    let running = ctx.sim.borrow().sim.is_some();
    // The caller can reach TwoLeg over the transports it has listeners for.
    let transports: Vec<Transport> = [Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .filter(|t| {
            valid
                .as_ref()
                .is_some_and(|config| config.listeners().iter().any(|l| l.transport == *t))
        })
        .collect();
    let needs_ms = |kind: &str| kind != "never" && kind != "noanswer" && kind != "silent";
    html! {
        <section>
            <h1>{ "Simulator" }</h1>
            <p class="hint">{ "Calls go through the real TwoLeg engine over a simulated network, in virtual time." }</p>
            if valid.is_none() {
                <p class="field-error" id="sim-config-invalid">{ "The config has problems; fix them before simulating." }</p>
            }
            <div class="form">
                <label class="field"><span>{ "Request-URI" }</span>
                    <input id="sim-uri" value={form.uri.clone()} onchange={text(|f, v| f.uri = v)} /></label>
                <label class="field"><span>{ "Caller" }</span>
                    <select id="sim-caller" onchange={select(|f, v| f.caller = v)}>
                        <option value="never" selected={form.caller == "never"}>{ "stays on the call" }</option>
                        <option value="hangup" selected={form.caller == "hangup"}>{ "hangs up after N ms" }</option>
                        <option value="cancel" selected={form.caller == "cancel"}>{ "cancels after N ms" }</option>
                    </select></label>
                if needs_ms(&form.caller) {
                    <label class="field"><span>{ "Caller N (ms)" }</span>
                        <input id="sim-caller-ms" type="number" value={form.caller_ms.to_string()} onchange={text(|f, v| f.caller_ms = v.trim().parse().unwrap_or(0))} /></label>
                }
                <label class="field"><span>{ "Caller's transport" }</span>
                    <select id="sim-caller-transport" disabled={running} onchange={select(|f, v| f.caller_transport = match v.as_str() { "tcp" => Transport::Tcp, "tls" => Transport::Tls, _ => Transport::Udp })}>
                        { for transports.iter().map(|t| {
                            let value = t.to_string().to_lowercase();
                            html! { <option value={value} selected={form.caller_transport == *t}>{ t.to_string() }</option> }
                        }) }
                    </select>
                    if running { <span class="hint">{ " (reset the simulator to change it)" }</span> }
                </label>
                <label class="field"><span>{ "Caller's credentials (407)" }</span>
                    <select id="sim-caller-credentials" onchange={select(|f, v| f.credentials = v)}>
                        <option value="none" selected={form.credentials == "none"}>{ "none" }</option>
                        <option value="right" selected={form.credentials == "right"}>{ "the first user's password" }</option>
                        <option value="wrong" selected={form.credentials == "wrong"}>{ "a wrong password" }</option>
                    </select></label>
                <label class="field"><span>{ "Caller's address" }</span>
                    <input id="sim-caller-address" disabled={running} value={form.caller_address.clone()} onchange={text(|f, v| f.caller_address = v)} /></label>
                <label class="field"><span>{ "Caller's media" }</span>
                    { media_select("sim-caller-media", form.caller_media, false, select(|f, v| f.caller_media = MediaSecurity::parse(&v))) }</label>
                <label class="field"><span>{ "Callee" }</span>
                    <select id="sim-callee" onchange={select(|f, v| f.callee = v)}>
                        <option value="answer" selected={form.callee == "answer"}>{ "answers after N ms" }</option>
                        <option value="answer-hangup" selected={form.callee == "answer-hangup"}>{ "answers, then hangs up" }</option>
                        <option value="busy" selected={form.callee == "busy"}>{ "busy (486)" }</option>
                        <option value="noanswer" selected={form.callee == "noanswer"}>{ "rings, never answers" }</option>
                        <option value="silent" selected={form.callee == "silent"}>{ "dead (no response)" }</option>
                    </select></label>
                <label class="field"><span>{ "Callee N (ms)" }</span>
                    <input id="sim-callee-ms" type="number" value={form.callee_ms.to_string()} onchange={text(|f, v| f.callee_ms = v.trim().parse().unwrap_or(0))} /></label>
                <label class="field"><span>{ "Callee hangs up after (ms)" }</span>
                    <input id="sim-hangup-ms" type="number" value={form.hang_up_ms.to_string()} onchange={text(|f, v| f.hang_up_ms = v.trim().parse().unwrap_or(0))} /></label>
                <label class="field"><span>{ "Callees' media" }</span>
                    { media_select("sim-callee-media", form.callee_media, running, select(|f, v| f.callee_media = MediaSecurity::parse(&v))) }</label>
                <label class="field"><span>{ "Media packets per end" }</span>
                    <input id="sim-media-packets" type="number" disabled={running} value={form.media_packets.to_string()} onchange={text(|f, v| f.media_packets = v.trim().parse().unwrap_or(0))} />
                    if running { <span class="hint">{ " (reset the simulator to change the callees' media and packets)" }</span> }
                </label>
                <label class="field"><span>{ "Calls" }</span>
                    <input id="sim-calls" type="number" value={form.calls.to_string()} onchange={text(|f, v| f.calls = v.trim().parse().unwrap_or(1))} /></label>
                <label class="field"><span>{ "Loss on every link (%)" }</span>
                    <input id="sim-loss" type="number" value={form.loss_percent.to_string()} onchange={text(|f, v| f.loss_percent = v.trim().parse().unwrap_or(0))} /></label>
                <label class="field"><span>{ "Latency (ms)" }</span>
                    <input id="sim-latency" type="number" value={form.latency_ms.to_string()} onchange={text(|f, v| f.latency_ms = v.trim().parse().unwrap_or(0))} /></label>
                <label class="field"><span>{ "Seed" }</span>
                    <input id="sim-seed" type="number" value={form.seed.to_string()} onchange={text(|f, v| f.seed = v.trim().parse().unwrap_or(1))} /></label>
                <label class="field"><span>{ "Speed" }</span>
                    <select id="sim-speed" onchange={select(|f, v| f.speed = match v.as_str() { "real" => Speed::RealTime, "max" => Speed::AsFastAsPossible, _ => Speed::TenTimes })}>
                        <option value="real" selected={form.speed == Speed::RealTime}>{ "real time" }</option>
                        <option value="ten" selected={form.speed == Speed::TenTimes}>{ "10×" }</option>
                        <option value="max" selected={form.speed == Speed::AsFastAsPossible}>{ "as fast as possible" }</option>
                    </select></label>
                <button id="sim-place" onclick={place} disabled={valid.is_none()}>{ "Place calls" }</button>
                <button id="sim-reset" onclick={reset}>{ "Reset simulator" }</button>
            </div>
            <p id="sim-status">
                { format!("Virtual time {} · live calls {} · finished calls {}", view.now, view.calls.len(), view.history_total) }
                if let Some(rate) = view.calls_per_second {
                    <span id="sim-rate">{ format!(" · {rate:.0} calls/s") }</span>
                }
            </p>
            if !view.refused.is_empty() {
                <h2>{ "Refused requests" }</h2>
                <p class="hint">{ "Refused before any call existed: no legs, no history record." }</p>
                <table id="sim-refused">
                    <thead><tr><th>{ "Time" }</th><th>{ "Source" }</th><th>{ "Request" }</th><th>{ "Status" }</th><th>{ "Why" }</th></tr></thead>
                    <tbody>
                        { for view.refused.iter().map(|r| html! {
                            <tr class="refused-row">
                                <td>{ r.at.to_string() }</td><td>{ r.source.to_string() }</td><td>{ r.method.clone() }</td>
                                <td class="status">{ r.status }</td><td class="reason">{ r.reason.clone() }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}

/// A choice of media offer, as Expressway's zones speak of it.
fn media_select(
    id: &'static str,
    chosen: MediaSecurity,
    disabled: bool,
    onchange: Callback<Event>,
) -> Html {
    let options = [
        (MediaSecurity::Rtp, "clear RTP (RTP/AVP)"),
        (MediaSecurity::Srtp, "SRTP only (RTP/SAVP with a=crypto)"),
        (
            MediaSecurity::Osrtp,
            "SRTP if possible (RTP/AVP with a=crypto, RFC 8643)",
        ),
    ];
    html! {
        <select {id} {disabled} {onchange}>
            { for options.iter().map(|(security, label)| html! {
                <option value={security.name()} selected={*security == chosen}>{ *label }</option>
            }) }
        </select>
    }
}
