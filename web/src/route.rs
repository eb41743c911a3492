//! The app's pages, behind a hash router so `dist/` works from any static host.

use yew_router::Routable;

/// A page.
#[derive(Clone, Debug, PartialEq, Eq, Routable)]
pub(crate) enum Route {
    #[at("/")]
    Home,
    #[at("/turn-servers")]
    TurnServers,
    #[at("/lync")]
    Lync,
    #[at("/settings")]
    Settings,
    #[at("/zones")]
    Zones,
    #[at("/simulator")]
    Simulator,
    #[at("/calls")]
    CallStatus,
    #[at("/history")]
    CallHistory,
    #[at("/ladder/:tag")]
    Ladder { tag: String },
    #[at("/config-file")]
    ConfigFile,
    #[not_found]
    #[at("/404")]
    NotFound,
}
