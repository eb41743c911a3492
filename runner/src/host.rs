//! The wasmtime host of the engine component: compile once, instantiate (and re-instantiate
//! after a trap), call the engine with a fuel budget and a memory limit. What crosses the
//! boundary is typed (`core/wit/twoleg.wit`) and converted to the engine's own types here, so
//! the rest of the runner reads `twoleg_core` types only.

use std::collections::VecDeque;

use twoleg_core::config::ValidConfig;
use twoleg_core::status::{CallStatus, DestinationStatus, SourceStatus};
use twoleg_core::turn::Health;
use twoleg_core::{Counters, Input, Output};
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    //! Generated from `core/wit/twoleg.wit`.
    wasmtime::component::bindgen!({
        path: "../core/wit",
        world: "twoleg",
    });
}

mod convert {
    //! WIT types to engine types.
    // One text converts both ways, for both sides: each side uses one direction, and both
    // sides' types are named in full on purpose.
    #![allow(dead_code, clippy::use_self)]

    use super::bindings::twoleg::engine::types as wit;

    include!("../../core/wit/convert.rs");
}

use bindings::twoleg::engine::types as wit;
use convert::Convert;

/// The engine component, built by `build.rs` from `runner/guest` for `wasm32-wasip2`.
const COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/twoleg_guest.wasm"));

/// Fuel for one call into the guest: far more than any datagram needs, little enough that a
/// runaway loop traps within a second.
const FUEL_PER_CALL: u64 = 2_000_000_000;

/// The guest's memory ceiling.
const MEMORY_LIMIT: usize = 512 << 20;

/// How many outputs one call into the guest returns at most.
const OUTPUT_BATCH: u32 = 256;

/// What the guest's store holds.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
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

/// The store's limits, remembering how large the guest's memory has grown (a wasm memory
/// never shrinks: only a fresh instance gives it back).
struct Limits {
    limits: StoreLimits,
    memory: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory = self.memory.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
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

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a call into the engine can end in: the engine refused it, or the guest trapped.
#[derive(Debug)]
pub(crate) enum GuestError {
    /// The engine refused the input (a host mistake such as time going backwards).
    Engine(twoleg_core::Error),
    /// The guest trapped.
    Trap(Trap),
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine(error) => write!(f, "the engine refused an input: {error}"),
            Self::Trap(trap) => write!(f, "the engine trapped: {trap}"),
        }
    }
}

/// One engine instance.
pub(crate) struct Guest {
    store: Store<State>,
    bindings: bindings::Twoleg,
    b2bua: ResourceAny,
    /// Outputs fetched in a batch and not handed out yet.
    outputs: VecDeque<Output>,
    /// The next call traps at once (fault injection for tests of the recovery).
    starve: bool,
}

/// One TURN address/port combination as the engine reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct TurnServerView {
    pub(crate) endpoint: u32,
    pub(crate) server: u32,
    pub(crate) address: std::net::SocketAddr,
    pub(crate) description: String,
    pub(crate) health: Health,
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
        config: &ValidConfig,
        now: u64,
        seed: u64,
    ) -> anyhow::Result<Guest> {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: Limits {
                limits: StoreLimitsBuilder::new()
                    .memory_size(MEMORY_LIMIT)
                    .instances(4)
                    .build(),
                memory: 0,
            },
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
            .call_create(&mut store, &config.config().to_json(), now, seed)
            .context("calling create")?
            .map_err(|problems| {
                let problems: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.path, p.message))
                    .collect();
                anyhow::anyhow!("the config was refused: {}", problems.join("; "))
            })?;
        // SRTP keys from the OS's CSPRNG, never from the engine's seed.
        let mut key_seed = [0u8; 32];
        getrandom::fill(&mut key_seed).context("drawing a key seed from the OS")?;
        let word =
            |i: usize| u64::from_le_bytes(key_seed[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        bindings
            .twoleg_engine_engine()
            .b2bua()
            .call_set_key_seed(&mut store, b2bua, (word(0), word(1), word(2), word(3)))
            .context("calling set-key-seed")?;
        Ok(Guest {
            store,
            bindings,
            b2bua,
            outputs: VecDeque::new(),
            starve: false,
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
        let fuel = if std::mem::take(&mut self.starve) {
            0
        } else {
            FUEL_PER_CALL
        };
        if let Err(e) = self.store.set_fuel(fuel) {
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

    /// Makes the next call into the guest trap (out of fuel), for testing the recovery.
    pub(crate) fn starve(&mut self) {
        self.starve = true;
    }

    /// How large the guest's linear memory has grown, in bytes.
    pub(crate) fn memory_size(&self) -> usize {
        self.store.data().limits.memory
    }

    pub(crate) fn disconnect(&mut self, now: u64, tag: &str) -> Result<(), GuestError> {
        let result = self
            .call(|store, b, r| {
                b.twoleg_engine_engine()
                    .b2bua()
                    .call_disconnect(store, r, now, tag)
            })
            .map_err(GuestError::Trap)?;
        result.map_err(|e| GuestError::Engine(e.convert()))
    }

    pub(crate) fn shut_down(&mut self, now: u64) -> Result<(), GuestError> {
        let result = self
            .call(|store, b, r| {
                b.twoleg_engine_engine()
                    .b2bua()
                    .call_shut_down(store, r, now)
            })
            .map_err(GuestError::Trap)?;
        result.map_err(|e| GuestError::Engine(e.convert()))
    }

    pub(crate) fn calls(&mut self) -> Result<Vec<CallStatus>, Trap> {
        let calls =
            self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_calls(store, r))?;
        Ok(calls.convert())
    }

    pub(crate) fn counters(&mut self) -> Result<Counters, Trap> {
        let counters =
            self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_counters(store, r))?;
        Ok(counters.convert())
    }

    pub(crate) fn turn_servers(&mut self) -> Result<Vec<TurnServerView>, Trap> {
        let servers =
            self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_turn_servers(store, r))?;
        Ok(servers
            .into_iter()
            .map(|s| TurnServerView {
                endpoint: s.endpoint,
                server: s.server,
                address: s.address.convert(),
                description: s.description,
                health: s.health.convert(),
            })
            .collect())
    }

    pub(crate) fn destinations(&mut self) -> Result<Vec<DestinationStatus>, Trap> {
        let destinations =
            self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_destinations(store, r))?;
        Ok(destinations.convert())
    }

    pub(crate) fn flood_sources(&mut self) -> Result<Vec<SourceStatus>, Trap> {
        let sources = self.call(|store, b, r| {
            b.twoleg_engine_engine()
                .b2bua()
                .call_flood_sources(store, r)
        })?;
        Ok(sources.convert())
    }

    pub(crate) fn is_idle(&mut self) -> Result<bool, Trap> {
        self.call(|store, b, r| b.twoleg_engine_engine().b2bua().call_is_idle(store, r))
    }
}

/// The guest drives like the native engine: the simulator's driver (and `twoleg replay`) run it.
impl twoleg_sim::Engine for Guest {
    type Error = GuestError;

    fn handle_input(&mut self, input: Input<'_>) -> Result<(), GuestError> {
        let result = match input {
            Input::Receive(now, receive) => {
                let packet = wit::Packet {
                    transport: receive.transport.convert(),
                    connection: receive.connection.map(|c| c.0),
                    source: receive.source.convert(),
                    destination: receive.destination.convert(),
                    server_name: None,
                    contents: receive.contents.to_vec(),
                };
                self.call(|store, b, r| {
                    b.twoleg_engine_engine().b2bua().call_handle_receive(
                        store,
                        r,
                        now.as_nanos(),
                        &packet,
                    )
                })
            }
            Input::Timeout(now) => self.call(|store, b, r| {
                b.twoleg_engine_engine()
                    .b2bua()
                    .call_handle_timeout(store, r, now.as_nanos())
            }),
            Input::Closed(now, connection) => self.call(|store, b, r| {
                b.twoleg_engine_engine().b2bua().call_handle_closed(
                    store,
                    r,
                    now.as_nanos(),
                    connection.0,
                )
            }),
            Input::Undeliverable(now, undeliverable) => {
                let (transport, destination) = (
                    undeliverable.transport.convert(),
                    undeliverable.destination.convert(),
                );
                self.call(|store, b, r| {
                    b.twoleg_engine_engine().b2bua().call_handle_undeliverable(
                        store,
                        r,
                        now.as_nanos(),
                        transport,
                        destination,
                    )
                })
            }
            Input::Resolved(now, answer) => {
                let answer = answer.convert();
                self.call(|store, b, r| {
                    b.twoleg_engine_engine().b2bua().call_handle_resolved(
                        store,
                        r,
                        now.as_nanos(),
                        &answer,
                    )
                })
            }
            Input::MediaReport(now, report) => {
                let report = report.convert();
                self.call(|store, b, r| {
                    b.twoleg_engine_engine().b2bua().call_handle_media_report(
                        store,
                        r,
                        now.as_nanos(),
                        &report,
                    )
                })
            }
        };
        result
            .map_err(GuestError::Trap)?
            .map_err(|e| GuestError::Engine(e.convert()))
    }

    fn poll_output(&mut self) -> Result<Output, GuestError> {
        if self.outputs.is_empty() {
            let batch = self
                .call(|store, b, r| {
                    b.twoleg_engine_engine()
                        .b2bua()
                        .call_poll_outputs(store, r, OUTPUT_BATCH)
                })
                .map_err(GuestError::Trap)?;
            self.outputs.extend(batch.into_iter().map(Convert::convert));
        }
        Ok(self
            .outputs
            .pop_front()
            .expect("poll-outputs returns at least the timeout"))
    }
}
