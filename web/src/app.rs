//! The app: shared state, the simulator's clock, navigation and the pages.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::timers::callback::Interval;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::nav::Nav;
use crate::pages;
use crate::route::Route;
use crate::sim_state::{SimHandle, SimView, Snapshot};
use crate::state::ConfigState;

/// How often the simulator advances, in wall milliseconds.
const TICK_MS: u32 = 50;

/// What every page can reach.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) config: UseReducerHandle<ConfigState>,
    pub(crate) view: UseReducerHandle<SimView>,
    pub(crate) sim: Rc<RefCell<SimHandle>>,
}

impl PartialEq for Ctx {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.view == other.view && Rc::ptr_eq(&self.sim, &other.sim)
    }
}

impl Ctx {
    /// Pushes a fresh snapshot of the simulator to the pages.
    pub(crate) fn refresh(&self) {
        let view = self.sim.borrow().view(wall_ms());
        self.view.dispatch(Snapshot(view));
    }
}

/// Wall-clock milliseconds from the page's start.
pub(crate) fn wall_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

#[component(App)]
pub(crate) fn app() -> Html {
    let config = use_reducer(|| ConfigState::new(crate::storage::load()));
    let view = use_reducer(SimView::default);
    let sim = use_mut_ref(SimHandle::default);
    let ctx = Ctx { config, view, sim };
    // The working copy is kept in localStorage whenever it changes (an effect, not the reducer).
    use_effect_with(ctx.config.config.clone(), |config| {
        crate::storage::save(config);
    });
    {
        let ctx = ctx.clone();
        use_effect_with((), move |_| {
            let interval = Interval::new(TICK_MS, move || {
                if ctx.sim.borrow().sim.is_none() {
                    return;
                }
                ctx.sim.borrow_mut().tick(u64::from(TICK_MS));
                ctx.refresh();
            });
            move || drop(interval)
        });
    }
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <HashRouter>
                <div class="shell">
                    <Nav />
                    <main>
                        <Switch<Route> render={switch} />
                    </main>
                </div>
            </HashRouter>
        </ContextProvider<Ctx>>
    }
}

fn switch(route: Route) -> Html {
    match route {
        Route::Home | Route::Simulator => html! { <pages::simulator::Simulator /> },
        Route::TurnServers => html! { <pages::turn_servers::TurnServers /> },
        Route::Lync => html! { <pages::lync::Lync /> },
        Route::Settings => html! { <pages::settings::Settings /> },
        Route::Zones => html! { <pages::zones::Zones /> },
        Route::CallStatus => html! { <pages::call_status::CallStatusPage /> },
        Route::CallHistory => html! { <pages::call_history::CallHistoryPage /> },
        Route::Ladder { tag } => html! { <pages::ladder::LadderPage {tag} /> },
        Route::ConfigFile => html! { <pages::config_file::ConfigFile /> },
        Route::NotFound => html! { <p>{ "No such page." }</p> },
    }
}
