//! Admin API requests, answered from the engine (calls, counters, TURN health) and the history
//! store, on the I/O loop's thread.

use std::net::SocketAddr;

use twoleg_core::Counters;
use twoleg_core::status::DestinationStatus;
use twoleg_core::turn::Health;

use super::{Node, add};
use crate::host::{GuestError, TurnServerView};

/// Admin API requests, each with its reply channel.
pub(crate) enum AdminRequest {
    Calls(tokio::sync::oneshot::Sender<String>),
    History(tokio::sync::oneshot::Sender<String>),
    Disconnect(String, tokio::sync::oneshot::Sender<Result<(), String>>),
    Metrics(tokio::sync::oneshot::Sender<String>),
    InjectFault(tokio::sync::oneshot::Sender<()>),
    Turn(tokio::sync::oneshot::Sender<String>),
    Connections(tokio::sync::oneshot::Sender<String>),
    Routes(tokio::sync::oneshot::Sender<String>),
    Sources(tokio::sync::oneshot::Sender<String>),
    Refusals(tokio::sync::oneshot::Sender<String>),
}

/// `GET /api/routes`: each route with its destinations' health.
#[derive(serde::Serialize)]
struct RouteReport {
    name: String,
    destinations: Vec<DestinationStatus>,
}

/// `GET /api/turn`.
#[derive(serde::Serialize)]
struct TurnReport {
    servers: Vec<TurnServerView>,
    allocations_open: u64,
    allocations_granted: u64,
    failures: u64,
    probes_sent: u64,
    probes_answered: u64,
}

impl Node {
    pub(super) fn admin(&mut self, request: AdminRequest) {
        match request {
            AdminRequest::Calls(reply) => {
                let calls = self.guest.calls().unwrap_or_else(|trap| {
                    self.replace_guest(trap);
                    Vec::new()
                });
                let _ = reply.send(serde_json::to_string(&calls).unwrap_or_default());
            }
            AdminRequest::History(reply) => {
                let records: Vec<_> = self.history.newest_first().collect();
                let _ = reply.send(serde_json::to_string(&records).unwrap_or_default());
            }
            AdminRequest::Disconnect(tag, reply) => {
                let now = self.now();
                let result = match self.guest.disconnect(now.as_nanos(), &tag) {
                    Ok(()) => Ok(()),
                    Err(GuestError::Engine(error)) => Err(error.to_string()),
                    Err(GuestError::Trap(trap)) => {
                        self.replace_guest(trap);
                        Err("the engine failed; the call was closed as an engine fault".to_owned())
                    }
                };
                let _ = reply.send(result);
            }
            AdminRequest::Metrics(reply) => {
                let counters = self.counters();
                let up: Vec<(SocketAddr, bool)> = self
                    .turn_servers()
                    .iter()
                    .map(|v| (v.address, v.health == Health::Up))
                    .collect();
                let destinations: Vec<(String, String, bool)> = self
                    .destinations()
                    .into_iter()
                    .map(|d| (d.route, d.address, d.health == Health::Up))
                    .collect();
                let streams = self.streams.counters();
                let connections = crate::metrics::ConnectionCounts {
                    open: self.streams.open(),
                    opened: streams.opened.load(std::sync::atomic::Ordering::Relaxed),
                    refused: streams.refused.load(std::sync::atomic::Ordering::Relaxed),
                    handshake_failures: streams
                        .handshake_failures
                        .load(std::sync::atomic::Ordering::Relaxed),
                };
                let _ = reply.send(self.metrics.render(
                    self.live.len(),
                    &counters,
                    &crate::metrics::Health {
                        turn_up: &up,
                        destinations_up: &destinations,
                        queue_depth: self.queue.depth(),
                        shed: self.queue.shed(),
                    },
                    &connections,
                    self.media_plane.totals(),
                ));
            }
            AdminRequest::Turn(reply) => {
                let counters = self.counters();
                let report = TurnReport {
                    servers: self.turn_servers(),
                    allocations_open: counters.turn_allocations_open,
                    allocations_granted: counters.turn_relays_granted,
                    failures: counters.turn_failures,
                    probes_sent: counters.turn_probes_sent,
                    probes_answered: counters.turn_probes_answered,
                };
                let _ = reply.send(serde_json::to_string(&report).unwrap_or_default());
            }
            AdminRequest::Routes(reply) => {
                let mut routes: Vec<RouteReport> = Vec::new();
                for destination in self.destinations() {
                    match routes.last_mut() {
                        Some(route) if route.name == destination.route => {
                            route.destinations.push(destination);
                        }
                        _ => routes.push(RouteReport {
                            name: destination.route.clone(),
                            destinations: vec![destination],
                        }),
                    }
                }
                let _ = reply.send(serde_json::to_string(&routes).unwrap_or_default());
            }
            AdminRequest::Sources(reply) => {
                let sources = self.guest.flood_sources().unwrap_or_else(|trap| {
                    self.replace_guest(trap);
                    Vec::new()
                });
                let _ = reply.send(serde_json::to_string(&sources).unwrap_or_default());
            }
            AdminRequest::Refusals(reply) => {
                let entries: Vec<_> = self.refusals.newest_first().collect();
                let _ = reply.send(serde_json::to_string(&entries).unwrap_or_default());
            }
            AdminRequest::Connections(reply) => {
                let views = self.streams.views();
                let _ = reply.send(serde_json::to_string(&views).unwrap_or_default());
            }
            AdminRequest::InjectFault(reply) => {
                if self.fault_injection {
                    self.guest.starve();
                    if let Err(trap) = self.guest.is_idle() {
                        self.replace_guest(trap);
                    }
                }
                let _ = reply.send(());
            }
        }
    }

    /// The engine's counters, with those of instances recycled before it (zero if the instance
    /// traps while asked).
    pub(super) fn counters(&mut self) -> Counters {
        match self.guest.counters() {
            Ok(counters) => add(self.retired, counters),
            Err(trap) => {
                self.replace_guest(trap);
                self.retired
            }
        }
    }

    pub(super) fn destinations(&mut self) -> Vec<DestinationStatus> {
        self.guest.destinations().unwrap_or_else(|trap| {
            self.replace_guest(trap);
            Vec::new()
        })
    }

    pub(super) fn turn_servers(&mut self) -> Vec<TurnServerView> {
        self.guest.turn_servers().unwrap_or_else(|trap| {
            self.replace_guest(trap);
            Vec::new()
        })
    }
}
