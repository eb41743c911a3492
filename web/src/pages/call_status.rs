//! Call status: live calls, one row per leg, the legs of a call grouped under its tag.

use twoleg_core::status::{
    Admission, CallerAuthentication, MediaStatus, RelayState, Side, TurnDecision,
};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Ctx;
use crate::route::Route;

#[component(CallStatusPage)]
pub(crate) fn call_status() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let now = ctx.view.now;
    let rows = ctx.view.calls.iter().map(|call| {
        let disconnect = {
            let ctx = ctx.clone();
            let tag = call.tag.clone();
            Callback::from(move |_: MouseEvent| {
                if let Some(sim) = &mut ctx.sim.borrow_mut().sim
                    && let Err(e) = sim.disconnect(&tag)
                {
                    gloo::console::warn!(e.to_string());
                }
                ctx.refresh();
            })
        };
        let legs = call.legs.iter().map(|leg| {
            html! {
                <tr class="leg-row" data-tag={call.tag.clone()}>
                    <td>{ format!("{}", call.started_at) }</td>
                    <td>{ &leg.source }</td>
                    <td>{ &leg.destination }</td>
                    <td class="tag">{ &call.tag }</td>
                    <td>{ leg.serial }</td>
                    <td>{ if leg.side == Side::A { "A (caller)" } else { "B (callee)" } }</td>
                    <td class="state">{ format!("{:?}", leg.state) }</td>
                    <td>{ format!("{:.1} s", now.saturating_since(call.started_at).as_secs_f64()) }</td>
                    <td class="turn">{ turn_text(&call.turn, leg.side) }</td>
                    <td class="media">{ media_text(call.media.as_ref(), leg.side) }</td>
                    <td class="admission">{ admission_text(call.admission.as_ref(), leg.side) }</td>
                </tr>
            }
        });
        html! {
            <tbody class="call" data-tag={call.tag.clone()}>
                { for legs }
                <tr><td colspan="11">
                    <button class="disconnect" onclick={disconnect}>{ "Disconnect" }</button>
                    <Link<Route> to={Route::Ladder { tag: call.tag.clone() }}>{ " ladder diagram" }</Link<Route>>
                </td></tr>
            </tbody>
        }
    });
    html! {
        <section>
            <h1>{ "Call status" }</h1>
            <table id="call-status">
                <thead><tr><th>{ "Start time" }</th><th>{ "Source" }</th><th>{ "Destination" }</th><th>{ "Tag" }</th><th>{ "Serial number" }</th><th>{ "Leg" }</th><th>{ "State" }</th><th>{ "Duration" }</th><th>{ "TURN" }</th><th>{ "Media" }</th><th>{ "Authentication" }</th></tr></thead>
                { for rows }
            </table>
            if ctx.view.calls.is_empty() {
                <p id="no-calls">{ "No calls in progress." }</p>
            }
        </section>
    }
}

/// How the caller was let in, in words, on the caller's row (its zone, and the user it
/// authenticated as when its zone checks credentials); "-" on the callee's row.
pub(crate) fn admission_text(admission: Option<&Admission>, side: Side) -> String {
    let Some(admission) = admission.filter(|_| side == Side::A) else {
        return "-".to_owned();
    };
    let zone = &admission.zone;
    match &admission.authentication {
        CallerAuthentication::Checked { username } => {
            format!("{username} (credentials checked; {zone})")
        }
        CallerAuthentication::TreatedAsAuthenticated => {
            format!("treated as authenticated ({zone})")
        }
        CallerAuthentication::NotChecked => format!("not authenticated ({zone})"),
    }
}

/// What the B2BUA did with a leg's media, in words: its zone and mode, then per media line
/// SRTP with its suite or clear RTP and the packets the media plane counted; "-" when the
/// B2BUA did not take the media.
pub(crate) fn media_text(media: Option<&MediaStatus>, side: Side) -> String {
    let Some(media) = media else {
        return "-".to_owned();
    };
    let zone = &media.zones[side.index()];
    let mut text = format!("{}: {} ({:?})", media.component, zone.name, zone.mode);
    for stream in &media.streams {
        let leg = &stream.legs[side.index()];
        match &leg.suite {
            Some(suite) => text.push_str(&format!("; SRTP {suite}")),
            None => text.push_str("; clear RTP"),
        }
        let counters = &leg.counters;
        text.push_str(&format!(
            ", {} in / {} out",
            counters.packets_received, counters.packets_sent
        ));
        let dropped = counters.auth_failures + counters.replays;
        if counters.lost > 0 || dropped > 0 {
            text.push_str(&format!(", {} lost, {dropped} refused", counters.lost));
        }
    }
    text
}

/// The TURN decision in words, on the Lync leg's row; "-" on the other leg.
pub(crate) fn turn_text(turn: &TurnDecision, side: Side) -> String {
    let lync_leg = match turn {
        TurnDecision::NotApplicable => return "-".to_owned(),
        TurnDecision::Offered { leg, .. } | TurnDecision::NotOffered { leg, .. } => *leg,
    };
    if side != lync_leg {
        return "-".to_owned();
    }
    match turn {
        TurnDecision::NotApplicable => "-".to_owned(),
        TurnDecision::Offered {
            address,
            description,
            relay,
            failed_over,
            redirected_to,
            ..
        } => {
            let mut text = String::new();
            for attempt in failed_over {
                text.push_str(&format!(
                    "{} failed ({}); ",
                    attempt.address, attempt.error.reason
                ));
            }
            let state = match relay {
                RelayState::Allocating => "allocating relays".to_owned(),
                RelayState::Allocated { rtp, rtcp, .. } => format!("relays {rtp} / {rtcp}"),
                RelayState::Failed(error) => format!("no relays: {}", error.reason),
            };
            text.push_str(&format!("{address} {description}"));
            if let Some(alternate) = redirected_to {
                text.push_str(&format!(" (redirected to {alternate})"));
            }
            text.push_str(&format!(": {state}"));
            text
        }
        TurnDecision::NotOffered { reason, .. } => format!("none: {reason}"),
    }
}
