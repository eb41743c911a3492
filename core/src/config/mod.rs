//! The config file: one JSON file, exported by the browser simulator and read by the runner.
//!
//! - [`Config`] is the file as written (serde, `"version": 1`).
//! - [`ValidConfig`] is what the engine accepts; [`ValidConfig::from_json`] returns it or every
//!   [`Problem`] in the file at once, each with its path (`turn_servers[1].port: 70000 is not a
//!   port number (1 to 65535)`).
//! - [`json_schema`] is the JSON Schema generated from the model.
//! - [`DEFAULT_CONFIG`] is the embedded default the runner uses when given no file.

mod check;
mod load;
mod model;
mod plans;
mod problem;
mod schema;
mod secret;
mod valid;

pub use model::{
    Admin, AdminRole, AdminTls, AdminToken, Authentication, AuthenticationPolicy, CONFIG_VERSION,
    CallAcceptance, Config, Connections, Credential, DefaultZone, Destination, DigestAlgorithm,
    Dns, Encryption, EncryptionB2bua, FloodAction, FloodProtection, History, Listener, LyncB2bua,
    MediaEncryptionMode, Pattern, PortRange, Route, RouteMatch, SipSettings, Timers, TlsFiles,
    TurnAddress, TurnHealth, TurnServer, UnknownHeaders, Zone,
};
pub use plans::{
    AdminTokenPlan, AuthPlan, ConnectionLimits, DestinationPlan, EncryptionPolicy, FloodPlan,
    HeaderPolicy, HealthPolicy, IpBlock, ListenerPlan, LyncPolicy, Matcher, PingPolicy, RoutePlan,
    SessionTimerPolicy, Target, TimerValues, TlsPlan, ZoneAccess, ZonePlan, ZoneTable,
};
pub use problem::{FieldPath, Problem, Problems, Segment};
pub use schema::json_schema;
pub use secret::Password;
pub use valid::ValidConfig;

/// The embedded default config: SIP on UDP 127.0.0.1:5060, every call routed to a test callee
/// on 127.0.0.1:5070, admin HTTP on 127.0.0.1:8080. Works on one machine as it is.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.json");

/// An example showing every part of the file: a Lync route with TURN servers, one of them a large
/// deployment with several ports.
pub const EXAMPLE_CONFIG: &str = include_str!("../../config/example.json");

impl Config {
    /// A copy fit for display: every password replaced by `***`.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        for server in &mut copy.turn_servers {
            if !server.password.is_empty() {
                server.password = Password::new(Password::REDACTED);
            }
        }
        for token in &mut copy.admin.tokens {
            token.sha256 = Password::REDACTED.to_owned();
        }
        for credential in &mut copy.authentication.credentials {
            if !credential.password.is_empty() {
                credential.password = Password::new(Password::REDACTED);
            }
        }
        copy
    }

    /// The file as exported: pretty JSON, passwords included.
    pub fn to_json(&self) -> String {
        // Serialising plain structs with string keys cannot fail.
        serde_json::to_string_pretty(self).expect("config serialises")
    }
}

/// The most ports one port range adds to a TURN server (a large deployment lists a handful).
pub const MAX_PORT_RANGE: u64 = 1_000;

impl TurnServer {
    /// This server listening on every port from its own `port` to `last_port`: each further
    /// port becomes one more address/port combination (`additional_addresses`) of the random
    /// load balancing. Refuses a range that ends below its start or spans more than
    /// [`MAX_PORT_RANGE`] ports.
    pub fn with_port_range(mut self, last_port: u64) -> Result<Self, String> {
        if last_port <= self.port {
            return Err(format!(
                "range end {last_port} is below its start {}",
                self.port
            ));
        }
        if last_port - self.port > MAX_PORT_RANGE {
            return Err(format!(
                "a range of {} ports is more than the {MAX_PORT_RANGE} one server may list",
                last_port - self.port
            ));
        }
        self.additional_addresses = (self.port + 1..=last_port)
            .map(|port| TurnAddress {
                address: self.address.clone(),
                port,
            })
            .collect();
        Ok(self)
    }
}

impl ValidConfig {
    /// The embedded default config, validated.
    pub fn default_config() -> Self {
        // The embedded default is checked by a test; it always validates.
        Self::from_json(DEFAULT_CONFIG).expect("the embedded default config validates")
    }
}
