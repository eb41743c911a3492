//! TwoLeg's engine exported as a WebAssembly component (`core/wit/twoleg.wit`), so the runner
//! hosts the very core the browser and the tests run, sandboxed in wasmtime.

// The canonical-ABI glue wit-bindgen generates needs `unsafe`; this crate writes none itself.
#![allow(unsafe_code)]
// The export macro wit-bindgen generates declares `pub` items the crate does not re-export.
#![allow(unreachable_pub)]

use std::cell::RefCell;
use std::net::SocketAddr;

use twoleg_core::config::ValidConfig;
use twoleg_core::{B2bua, Input, Instant, Output, Receive};

mod bindings {
    //! Generated from `core/wit/twoleg.wit`.
    #![allow(missing_docs, unreachable_pub, clippy::all)]

    wit_bindgen::generate!({
        path: "../../core/wit",
        world: "twoleg",
        pub_export_macro: true,
    });
}

use bindings::exports::twoleg::engine::engine::{self as wit, Datagram, GuestB2bua};

/// The component.
pub struct Component;

impl wit::Guest for Component {
    type B2bua = Engine;

    fn validate(config_json: String) -> Result<String, Vec<String>> {
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
    fn create(config_json: String, now: u64, seed: u64) -> Result<wit::B2bua, Vec<String>> {
        let config = ValidConfig::from_json(&config_json).map_err(problems)?;
        let engine = B2bua::new(config, Instant::from_nanos(now), seed);
        Ok(wit::B2bua::new(Self(RefCell::new(engine))))
    }

    fn handle_receive(&self, now: u64, datagram: Datagram) -> Result<(), String> {
        let source: SocketAddr = datagram
            .source
            .parse()
            .map_err(|e| format!("source: {e}"))?;
        let destination: SocketAddr = datagram
            .destination
            .parse()
            .map_err(|e| format!("destination: {e}"))?;
        let input = Input::Receive(
            Instant::from_nanos(now),
            Receive {
                source,
                destination,
                contents: &datagram.contents,
            },
        );
        self.0
            .borrow_mut()
            .handle_input(input)
            .map_err(|e| e.to_string())
    }

    fn handle_timeout(&self, now: u64) -> Result<(), String> {
        self.0
            .borrow_mut()
            .handle_input(Input::Timeout(Instant::from_nanos(now)))
            .map_err(|e| e.to_string())
    }

    fn disconnect(&self, now: u64, tag: String) -> Result<(), String> {
        self.0
            .borrow_mut()
            .disconnect(Instant::from_nanos(now), &tag)
            .map_err(|e| e.to_string())
    }

    fn drain(&self, now: u64) -> Result<(), String> {
        self.0
            .borrow_mut()
            .drain(Instant::from_nanos(now))
            .map_err(|e| e.to_string())
    }

    fn inject_fault(&self, reason: String) {
        panic!("fault injected by the host: {reason}");
    }

    fn poll_outputs(&self, max: u32) -> Vec<wit::Output> {
        let mut engine = self.0.borrow_mut();
        let mut outputs = Vec::new();
        loop {
            let output = engine.poll_output();
            let last =
                matches!(output, Output::Timeout(_)) || outputs.len() + 1 >= max.max(1) as usize;
            outputs.push(match output {
                Output::Transmit(t) => wit::Output::Transmit(Datagram {
                    source: t.source.to_string(),
                    destination: t.destination.to_string(),
                    contents: t.contents,
                }),
                Output::Event(event) => wit::Output::Event(
                    // Events are plain data; serialising them cannot fail.
                    serde_json::to_string(&event).unwrap_or_default(),
                ),
                Output::Timeout(at) => wit::Output::Timeout(at.as_nanos()),
            });
            if last {
                return outputs;
            }
        }
    }

    fn calls(&self) -> String {
        let calls: Vec<_> = self.0.borrow().calls().collect();
        serde_json::to_string(&calls).unwrap_or_default()
    }

    fn history(&self) -> String {
        let engine = self.0.borrow();
        let history: Vec<_> = engine.history().iter().collect();
        serde_json::to_string(&history).unwrap_or_default()
    }

    fn counters(&self) -> String {
        serde_json::to_string(&self.0.borrow().counters()).unwrap_or_default()
    }
}

fn problems(problems: twoleg_core::config::Problems) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

bindings::export!(Component with_types_in bindings);
