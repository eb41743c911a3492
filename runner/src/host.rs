//! The wasmtime host of the engine component: compile once, instantiate (and re-instantiate
//! after a trap), call the engine with a fuel budget and a memory limit.

use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    //! Generated from `core/wit/twoleg.wit`.
    wasmtime::component::bindgen!({
        path: "../core/wit",
        world: "twoleg",
    });
}

pub(crate) use bindings::exports::twoleg::engine::engine::{Datagram, Output};

/// The engine component, built by `build.rs` from `runner/guest` for `wasm32-wasip2`.
const COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/twoleg_guest.wasm"));

/// Fuel for one call into the guest: far more than any datagram needs, little enough that a
/// runaway loop traps within a second.
const FUEL_PER_CALL: u64 = 2_000_000_000;

/// The guest's memory ceiling.
const MEMORY_LIMIT: usize = 512 << 20;

/// What the guest's store holds.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: MemoryOutputPipe,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled component, ready to instantiate.
pub(crate) struct Host {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
}

/// The guest failed: it trapped (a panic, out of fuel, out of memory) and is unusable now.
#[derive(Debug)]
pub(crate) struct Trap(pub(crate) String);

/// One engine instance.
pub(crate) struct Guest {
    store: Store<State>,
    bindings: bindings::Twoleg,
    b2bua: ResourceAny,
}

impl Host {
    /// Compiles the embedded component (a second or two).
    pub(crate) fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        let engine = Engine::new(&config).context("creating the wasmtime engine")?;
        let component =
            Component::from_binary(&engine, COMPONENT).context("compiling the engine component")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).context("linking WASI")?;
        Ok(Self {
            engine,
            component,
            linker,
        })
    }

    /// A fresh engine for this config.
    pub(crate) fn instantiate(
        &self,
        config_json: &str,
        now: u64,
        seed: u64,
    ) -> anyhow::Result<Guest> {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT)
                .instances(4)
                .build(),
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_fuel(FUEL_PER_CALL).context("setting fuel")?;
        let bindings = bindings::Twoleg::instantiate(&mut store, &self.component, &self.linker)
            .context("instantiating the engine component")?;
        let b2bua = bindings
            .twoleg_engine_engine()
            .b2bua()
            .call_create(&mut store, config_json, now, seed)
            .context("calling create")?
            .map_err(|problems| {
                anyhow::anyhow!("the config was refused: {}", problems.join("; "))
            })?;
        Ok(Guest {
            store,
            bindings,
            b2bua,
        })
    }
}

impl Guest {
    /// Calls into the guest with a fresh fuel budget; a trap comes back with its cause and
    /// whatever the guest wrote to stderr (a panic message).
    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Store<State>, &bindings::Twoleg, ResourceAny) -> wasmtime::Result<R>,
    ) -> Result<R, Trap> {
        if let Err(e) = self.store.set_fuel(FUEL_PER_CALL) {
            return Err(Trap(format!("setting fuel: {e}")));
        }
        f(&mut self.store, &self.bindings, self.b2bua).map_err(|error| {
            let stderr = String::from_utf8_lossy(&self.store.data().stderr.contents()).into_owned();
            let cause = match error.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => format!("{trap}"),
                None => format!("{error:#}"),
            };
            Trap(format!(
                "{cause}{}{}",
                if stderr.is_empty() { "" } else { ": " },
                stderr.trim()
            ))
        })
    }

    pub(crate) fn handle_receive(
        &mut self,
        now: u64,
        datagram: &Datagram,
    ) -> Result<Result<(), String>, Trap> {
        self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_handle_receive(store, r, now, datagram)
        })
    }

    pub(crate) fn handle_timeout(&mut self, now: u64) -> Result<Result<(), String>, Trap> {
        self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_handle_timeout(store, r, now)
        })
    }

    pub(crate) fn disconnect(&mut self, now: u64, tag: &str) -> Result<Result<(), String>, Trap> {
        self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_disconnect(store, r, now, tag)
        })
    }

    pub(crate) fn drain(&mut self, now: u64) -> Result<Result<(), String>, Trap> {
        self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_drain(store, r, now))
    }

    pub(crate) fn inject_fault(&mut self, reason: &str) -> Result<(), Trap> {
        self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_inject_fault(store, r, reason)
        })
    }

    pub(crate) fn poll_outputs(&mut self, max: u32) -> Result<Vec<Output>, Trap> {
        self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_poll_outputs(store, r, max)
        })
    }

    pub(crate) fn calls(&mut self) -> Result<String, Trap> {
        self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_calls(store, r))
    }

    pub(crate) fn counters(&mut self) -> Result<String, Trap> {
        self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_counters(store, r))
    }
}
