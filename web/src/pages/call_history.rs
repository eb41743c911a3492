//! Call history: finished calls, newest first, one row per leg.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Ctx;
use crate::pages::call_status::{admission_text, media_text, turn_text};
use crate::route::Route;

#[component(CallHistoryPage)]
pub(crate) fn call_history() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let rows = ctx.view.history.iter().map(|record| {
        let legs = record.legs.iter().map(|leg| {
            html! {
                <tr class="history-leg-row" data-tag={record.tag.clone()}>
                    <td>{ format!("{}", record.started_at) }</td>
                    <td>{ &leg.source }</td>
                    <td>{ &leg.destination }</td>
                    <td class="tag">{ &record.tag }</td>
                    <td>{ leg.serial }</td>
                    <td>{ if leg.side == twoleg_core::status::Side::A { "A (caller)" } else { "B (callee)" } }</td>
                    <td>{ leg.final_status.map_or_else(|| "-".to_owned(), |s| s.to_string()) }</td>
                    <td>{ format!("{:.1} s", record.duration().as_secs_f64()) }</td>
                    <td>{ format!("{:?}: {}", record.outcome, record.reason) }</td>
                    <td class="turn">{ turn_text(&record.turn, leg.side) }</td>
                    <td class="media">{ media_text(record.media.as_ref(), leg.side) }</td>
                    <td class="admission">{ admission_text(record.admission.as_ref(), leg.side) }</td>
                    <td><Link<Route> to={Route::Ladder { tag: record.tag.clone() }}>{ "ladder" }</Link<Route>></td>
                </tr>
            }
        });
        html! { <tbody class="history-call" data-tag={record.tag.clone()}>{ for legs }</tbody> }
    });
    html! {
        <section>
            <h1>{ "Call history" }</h1>
            <p id="history-count">{ format!("{} calls ended ({} shown)", ctx.view.history_total, ctx.view.history.len()) }</p>
            <table id="call-history">
                <thead><tr><th>{ "Start time" }</th><th>{ "Source" }</th><th>{ "Destination" }</th><th>{ "Tag" }</th><th>{ "Serial number" }</th><th>{ "Leg" }</th><th>{ "Status" }</th><th>{ "Duration" }</th><th>{ "Reason" }</th><th>{ "TURN" }</th><th>{ "Media" }</th><th>{ "Authentication" }</th><th></th></tr></thead>
                { for rows }
            </table>
        </section>
    }
}
