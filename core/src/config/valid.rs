//! The validated config: the only form the engine accepts.

use std::net::SocketAddr;
use std::time::Duration;

use super::check::Checker;
use super::model::{self, Config};
use super::plans::{
    AdminTokenPlan, AuthPlan, ConnectionLimits, EncryptionPolicy, FloodPlan, HealthPolicy,
    ListenerPlan, LyncPolicy, RoutePlan, SessionTimerPolicy, TimerValues, TlsPlan, ZoneTable,
};
use super::problem::Problems;
use crate::turn::TurnServerTable;

/// A config that passed validation, with every value in its typed form.
///
/// Only [`ValidConfig::from_json`] and [`ValidConfig::validate`] make one, so an unvalidated
/// config cannot reach the engine.
#[derive(Clone, Debug)]
pub struct ValidConfig {
    pub(super) config: Config,
    pub(super) listeners: Vec<ListenerPlan>,
    pub(super) timers: TimerValues,
    pub(super) max_forwards: u8,
    pub(super) max_message_size: usize,
    pub(super) ring_timeout: Option<Duration>,
    pub(super) session_timers: SessionTimerPolicy,
    pub(super) connections: ConnectionLimits,
    pub(super) routes: Vec<RoutePlan>,
    pub(super) zones: ZoneTable,
    pub(super) auth: AuthPlan,
    pub(super) flood: Option<FloodPlan>,
    pub(super) encryption: EncryptionPolicy,
    pub(super) lync: LyncPolicy,
    pub(super) turn_servers: TurnServerTable,
    pub(super) turn_health: Option<HealthPolicy>,
    pub(super) admin_listen: SocketAddr,
    pub(super) admin_tokens: Vec<AdminTokenPlan>,
    pub(super) admin_tls: Option<TlsPlan>,
    pub(super) dns_servers: Vec<SocketAddr>,
    pub(super) history_max_calls: usize,
}

impl ValidConfig {
    /// Reads and validates config text, returning every problem at once.
    pub fn from_json(text: &str) -> Result<Self, Problems> {
        let loaded = super::load::load(text).map_err(|p| Problems::new(p, Vec::new()))?;
        Self::finish(loaded)
    }

    /// Validates an already parsed JSON document.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Problems> {
        Self::finish(super::load::load_value(value))
    }

    /// Validates a config model (one built in code or edited in the browser).
    pub fn validate(config: Config) -> Result<Self, Problems> {
        Self::finish(super::load::Loaded {
            config,
            problems: Vec::new(),
            removed: Vec::new(),
        })
    }

    fn finish(loaded: super::load::Loaded) -> Result<Self, Problems> {
        Checker::new(loaded.problems, loaded.removed).check(loaded.config)
    }

    /// The config as written, for export (passwords included).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The UDP listeners; there is at least one.
    pub fn listeners(&self) -> &[ListenerPlan] {
        &self.listeners
    }

    /// T1, T2, T4.
    pub fn timers(&self) -> TimerValues {
        self.timers
    }

    /// Max-Forwards for requests the B2BUA originates.
    pub fn max_forwards(&self) -> u8 {
        self.max_forwards
    }

    /// Largest datagram accepted.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// How long a callee may ring, if limited.
    pub fn ring_timeout(&self) -> Option<Duration> {
        self.ring_timeout
    }

    /// Session timers on the legs of calls not through the Lync B2BUA (those use
    /// [`LyncPolicy::session_timers`]).
    pub fn session_timers(&self) -> SessionTimerPolicy {
        self.session_timers
    }

    /// Limits on TCP and TLS connections.
    pub fn connections(&self) -> ConnectionLimits {
        self.connections
    }

    /// The listener at `address` for `transport`, if there is one.
    pub fn listener(
        &self,
        address: SocketAddr,
        transport: crate::Transport,
    ) -> Option<&ListenerPlan> {
        self.listeners
            .iter()
            .find(|l| l.address == address && l.transport == transport)
    }

    /// Routes in order.
    pub fn routes(&self) -> &[RoutePlan] {
        &self.routes
    }

    /// The zones and their media encryption modes.
    pub fn zones(&self) -> &ZoneTable {
        &self.zones
    }

    /// SIP digest authentication: realm, algorithms, nonce lifetime, credentials.
    pub fn authentication(&self) -> &AuthPlan {
        &self.auth
    }

    /// Per-source flood protection, if on.
    pub fn flood_protection(&self) -> Option<FloodPlan> {
        self.flood
    }

    /// The encryption B2BUA's limits.
    pub fn encryption(&self) -> EncryptionPolicy {
        self.encryption
    }

    /// The Microsoft Lync B2BUA settings.
    pub fn lync(&self) -> &LyncPolicy {
        &self.lync
    }

    /// The B2BUA TURN servers.
    pub fn turn_servers(&self) -> &TurnServerTable {
        &self.turn_servers
    }

    /// TURN health probing, if switched on.
    pub fn turn_health(&self) -> Option<HealthPolicy> {
        self.turn_health
    }

    /// The DNS servers to ask (empty: the system's).
    pub fn dns_servers(&self) -> &[SocketAddr] {
        &self.dns_servers
    }

    /// The admin HTTP listener.
    pub fn admin_listen(&self) -> SocketAddr {
        self.admin_listen
    }

    /// The admin API's tokens (none: no authentication, loopback only).
    pub fn admin_tokens(&self) -> &[AdminTokenPlan] {
        &self.admin_tokens
    }

    /// The admin API's HTTPS files, if it serves HTTPS.
    pub fn admin_tls(&self) -> Option<&TlsPlan> {
        self.admin_tls.as_ref()
    }

    /// How many finished calls history keeps.
    pub fn history_max_calls(&self) -> usize {
        self.history_max_calls
    }

    /// Returns a copy with these timer values, for tests and the simulator that shrink T1.
    pub fn with_timers(mut self, timers: TimerValues) -> Self {
        self.timers = timers;
        self.config.sip.timers = model::Timers {
            t1_ms: timers.t1.as_millis() as u64,
            t2_ms: timers.t2.as_millis() as u64,
            t4_ms: timers.t4.as_millis() as u64,
        };
        self
    }
}
