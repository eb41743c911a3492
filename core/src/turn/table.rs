//! The B2BUA TURN server table: every configured address/port combination, with its health.

use std::net::SocketAddr;

use crate::config::Password;

/// One address/port combination of a configured TURN server: one choice for the selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnEndpoint {
    /// Index of the server in the config's `turn_servers`.
    pub server: usize,
    /// Where to send TURN requests.
    pub address: SocketAddr,
    /// The server's description.
    pub description: String,
    /// Long-term credential username.
    pub username: String,
    /// Long-term credential password (prints as `***`).
    pub password: Password,
}

/// Index of an endpoint in a [`TurnServerTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct EndpointId(pub usize);

/// Whether an endpoint may be chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not probed, or answering: may be chosen.
    #[default]
    Up,
    /// Failed its health probes: left out of the selection until it answers again.
    Down,
}

/// All address/port combinations of all configured TURN servers, in config order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnServerTable {
    endpoints: Vec<TurnEndpoint>,
    health: Vec<Health>,
}

impl TurnServerTable {
    /// A table of these endpoints, all [`Health::Up`].
    pub fn new(endpoints: Vec<TurnEndpoint>) -> Self {
        let health = vec![Health::Up; endpoints.len()];
        Self { endpoints, health }
    }

    /// Marks an endpoint up or down (health probing).
    pub fn set_health(&mut self, id: EndpointId, health: Health) {
        if let Some(slot) = self.health.get_mut(id.0) {
            *slot = health;
        }
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: EndpointId) -> Option<&TurnEndpoint> {
        self.endpoints.get(id.0)
    }

    /// The health of the endpoint with this id.
    pub fn health(&self, id: EndpointId) -> Option<Health> {
        self.health.get(id.0).copied()
    }

    /// Every endpoint with its id and health.
    pub fn iter(&self) -> impl Iterator<Item = (EndpointId, &TurnEndpoint, Health)> {
        self.endpoints
            .iter()
            .zip(&self.health)
            .enumerate()
            .map(|(i, (endpoint, health))| (EndpointId(i), endpoint, *health))
    }

    /// How many address/port combinations are configured.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no TURN server is configured.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}
