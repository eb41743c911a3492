//! The navigation bar, with Expressway's page names.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Ctx;
use crate::route::Route;

#[component(Nav)]
pub(crate) fn nav() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let problems = ctx.config.problems.len();
    let link = |route: Route, label: &str, id: &str| {
        html! { <Link<Route> to={route} classes={classes!("nav-link")}><span id={id.to_owned()}>{ label.to_owned() }</span></Link<Route>> }
    };
    html! {
        <nav>
            <span class="brand">{ "TwoLeg" }</span>
            { link(Route::Simulator, "Simulator", "nav-simulator") }
            { link(Route::CallStatus, "Call status", "nav-calls") }
            { link(Route::CallHistory, "Call history", "nav-history") }
            { link(Route::TurnServers, "B2BUA TURN servers", "nav-turn") }
            { link(Route::Lync, "Microsoft Lync B2BUA", "nav-lync") }
            { link(Route::Settings, "B2BUA settings", "nav-settings") }
            { link(Route::Zones, "Zones", "nav-zones") }
            { link(Route::ConfigFile, "Config file", "nav-config") }
            if problems > 0 {
                <span class="badge error" id="config-problem-count">{ format!("{problems} config problem(s)") }</span>
            }
        </nav>
    }
}
