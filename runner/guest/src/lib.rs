//! TwoLeg's engine exported as a WebAssembly component (`core/wit/twoleg.wit`), so the runner
//! hosts the very core the browser and the tests run, sandboxed in wasmtime. Everything crosses
//! the boundary typed; the conversions are `core/wit/convert.rs`, shared with the host.

// The canonical-ABI glue wit-bindgen generates needs `unsafe`; this crate writes none itself.
#![allow(unsafe_code)]
// The export macro wit-bindgen generates declares `pub` items the crate does not re-export.
#![allow(unreachable_pub)]

use std::cell::RefCell;

use twoleg_core::config::{Problems, ValidConfig};
use twoleg_core::{B2bua, ConnectionId, Input, Instant, Output, Receive, Undeliverable};

mod bindings {
    //! Generated from `core/wit/twoleg.wit`.
    #![allow(missing_docs, unreachable_pub, clippy::all)]

    wit_bindgen::generate!({
        path: "../../core/wit",
        world: "twoleg",
        pub_export_macro: true,
    });
}

mod convert {
    //! Engine types to WIT types.
    // One text converts both ways, for both sides: each side uses one direction, and both
    // sides' types are named in full on purpose.
    #![allow(dead_code, clippy::use_self)]

    use crate::bindings::twoleg::engine::types as wit;

    include!("../../../core/wit/convert.rs");
}

use bindings::exports::twoleg::engine::engine::{self as exports, GuestB2bua};
use bindings::twoleg::engine::types as wit;
use convert::Convert;

/// The component.
pub struct Component;

impl exports::Guest for Component {
    type B2bua = Engine;

    fn validate(config_json: String) -> Result<String, Vec<wit::Problem>> {
        let config = ValidConfig::from_json(&config_json).map_err(problems)?;
        Ok(format!(
            "valid: {} listener(s), {} route(s), {} TURN address/port combination(s)",
            config.listeners().len(),
            config.routes().len(),
            config.turn_servers().len()
        ))
    }
}

/// The `b2bua` resource: one engine behind a `RefCell` (component resources are borrowed
/// shared).
pub struct Engine(RefCell<B2bua>);

impl GuestB2bua for Engine {
    fn create(
        config_json: String,
        now: u64,
        seed: u64,
    ) -> Result<exports::B2bua, Vec<wit::Problem>> {
        let config = ValidConfig::from_json(&config_json).map_err(problems)?;
        let engine = B2bua::new(config, Instant::from_nanos(now), seed);
        Ok(exports::B2bua::new(Self(RefCell::new(engine))))
    }

    fn set_key_seed(&self, seed: (u64, u64, u64, u64)) {
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes
            .chunks_exact_mut(8)
            .zip([seed.0, seed.1, seed.2, seed.3])
        {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        self.0.borrow_mut().set_key_seed(bytes);
    }

    fn handle_receive(&self, now: u64, packet: wit::Packet) -> Result<(), wit::EngineError> {
        let input = Input::Receive(
            Instant::from_nanos(now),
            Receive {
                transport: packet.transport.convert(),
                connection: packet.connection.map(ConnectionId),
                source: packet.source.convert(),
                destination: packet.destination.convert(),
                contents: &packet.contents,
            },
        );
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(Convert::convert)
    }

    fn handle_closed(&self, now: u64, connection: u64) -> Result<(), wit::EngineError> {
        let input = Input::Closed(Instant::from_nanos(now), ConnectionId(connection));
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(Convert::convert)
    }

    fn handle_undeliverable(
        &self,
        now: u64,
        transport: wit::Transport,
        destination: wit::SocketAddress,
    ) -> Result<(), wit::EngineError> {
        let undeliverable = Undeliverable {
            transport: transport.convert(),
            destination: destination.convert(),
        };
        let input = Input::Undeliverable(Instant::from_nanos(now), undeliverable);
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(Convert::convert)
    }

    fn handle_media_report(
        &self,
        now: u64,
        report: wit::MediaReport,
    ) -> Result<(), wit::EngineError> {
        let input = Input::MediaReport(Instant::from_nanos(now), report.convert());
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(Convert::convert)
    }

    fn handle_resolved(&self, now: u64, answer: wit::DnsAnswer) -> Result<(), wit::EngineError> {
        let input = Input::Resolved(Instant::from_nanos(now), answer.convert());
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(Convert::convert)
    }

    fn handle_timeout(&self, now: u64) -> Result<(), wit::EngineError> {
        self.0
            .borrow_mut()
            .handle_input(Input::Timeout(Instant::from_nanos(now)))
            .map_err(Convert::convert)
    }

    fn disconnect(&self, now: u64, tag: String) -> Result<(), wit::EngineError> {
        self.0
            .borrow_mut()
            .disconnect(Instant::from_nanos(now), &tag)
            .map_err(Convert::convert)
    }

    fn shut_down(&self, now: u64) -> Result<(), wit::EngineError> {
        self.0
            .borrow_mut()
            .shut_down(Instant::from_nanos(now))
            .map_err(Convert::convert)
    }

    fn poll_outputs(&self, max: u32) -> Vec<wit::Output> {
        let mut engine = self.0.borrow_mut();
        let mut outputs = Vec::new();
        loop {
            let output = engine.poll_output();
            let last =
                matches!(output, Output::Timeout(_)) || outputs.len() + 1 >= max.max(1) as usize;
            outputs.push(output.convert());
            if last {
                return outputs;
            }
        }
    }

    fn calls(&self) -> Vec<wit::CallStatus> {
        self.0.borrow().calls().map(Convert::convert).collect()
    }

    fn history(&self) -> Vec<wit::CallRecord> {
        let engine = self.0.borrow();
        engine
            .history()
            .iter()
            .map(|record| record.clone().convert())
            .collect()
    }

    fn counters(&self) -> wit::Counters {
        self.0.borrow().counters().convert()
    }

    fn turn_servers(&self) -> Vec<wit::TurnEndpoint> {
        let engine = self.0.borrow();
        engine
            .turn_servers()
            .iter()
            .map(|(id, endpoint, health)| wit::TurnEndpoint {
                endpoint: id.convert(),
                server: endpoint.server.convert(),
                address: endpoint.address.convert(),
                description: endpoint.description.clone(),
                health: health.convert(),
            })
            .collect()
    }

    fn destinations(&self) -> Vec<wit::DestinationStatus> {
        self.0.borrow().destinations().convert()
    }

    fn flood_sources(&self) -> Vec<wit::SourceStatus> {
        self.0.borrow().flood_sources().convert()
    }

    fn is_idle(&self) -> bool {
        self.0.borrow().is_idle()
    }
}

fn problems(problems: Problems) -> Vec<wit::Problem> {
    problems.iter().map(Convert::convert).collect()
}

// Exported only where it is a component: a native build of this crate (the workspace's
// `cargo test`) has no use for the canonical-ABI symbols, whose names native linkers refuse.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
