//! TwoLeg's browser simulator and config editor.
//!
//! Pages modelled on Expressway's (B2BUA TURN servers, Microsoft Lync B2BUA, B2BUA settings,
//! Call status, Call history) edit one config file, the same file the runner reads, and a
//! simulator places calls through the real engine (`twoleg_core::sim`) with a SIP ladder diagram
//! of both legs.
//!
//! State follows the Yew examples: the config is a `Reducible` with an `Action` enum
//! (`state.rs`), the simulated network and engine live outside the reducer (`sim_state.rs`,
//! held in a `use_mut_ref` and advanced by a timer), one component per file.

mod app;
mod components;
mod pages;
mod route;
mod sim_state;
mod state;
mod storage;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
