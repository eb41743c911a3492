//! The working config and its problems: a `Reducible` with an `Action` enum.

use std::rc::Rc;

use twoleg_core::config::{
    Authentication, Config, DefaultZone, EncryptionB2bua, LyncB2bua, Problem, Route, SipSettings,
    TurnHealth, TurnServer, ValidConfig, Zone,
};
use yew::Reducible;

/// The config being edited, and every problem validation finds in it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConfigState {
    pub(crate) config: Config,
    pub(crate) problems: Vec<Problem>,
}

/// A change to the working config.
pub(crate) enum Action {
    /// Replace the whole config (an import that validated).
    Replace(Box<Config>),
    /// Add a TURN server.
    AddTurnServer(TurnServer),
    /// Replace the TURN server at this index.
    UpdateTurnServer(usize, TurnServer),
    /// Delete the TURN server at this index.
    DeleteTurnServer(usize),
    /// Add one server listening on a range of ports: one address/port combination per port.
    AddPortRange { server: TurnServer, last_port: u64 },
    /// Replace the Microsoft Lync B2BUA settings.
    SetLync(LyncB2bua),
    /// Replace the TURN health probing settings.
    SetTurnHealth(TurnHealth),
    /// Replace the SIP settings.
    SetSip(SipSettings),
    /// Replace the routes.
    SetRoutes(Vec<Route>),
    /// Replace the zones, the default zone and the encryption B2BUA's limits.
    SetMediaPolicy {
        zones: Vec<Zone>,
        default_zone: DefaultZone,
        encryption_b2bua: EncryptionB2bua,
    },
    /// Replace the digest authentication settings (realm, credentials).
    SetAuthentication(Authentication),
    /// Back to the embedded default.
    Reset,
}

impl ConfigState {
    pub(crate) fn new(config: Config) -> Self {
        let problems = problems_of(&config);
        Self { config, problems }
    }

    /// The problems at `path` or inside it.
    pub(crate) fn problems_at(&self, path: &str) -> Vec<String> {
        self.problems
            .iter()
            .filter(|p| {
                let at = p.path.to_string();
                at == path
                    || at.starts_with(&format!("{path}."))
                    || at.starts_with(&format!("{path}["))
            })
            .map(|p| p.message.clone())
            .collect()
    }

    /// The validated config, if it has no problem.
    pub(crate) fn valid(&self) -> Option<ValidConfig> {
        ValidConfig::validate(self.config.clone()).ok()
    }
}

fn problems_of(config: &Config) -> Vec<Problem> {
    match ValidConfig::validate(config.clone()) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().cloned().collect(),
    }
}

impl Reducible for ConfigState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut config = self.config.clone();
        match action {
            Action::Replace(new) => config = *new,
            Action::AddTurnServer(server) => config.turn_servers.push(server),
            Action::UpdateTurnServer(index, server) => {
                if let Some(slot) = config.turn_servers.get_mut(index) {
                    *slot = server;
                }
            }
            Action::DeleteTurnServer(index) => {
                if index < config.turn_servers.len() {
                    config.turn_servers.remove(index);
                }
            }
            Action::AddPortRange { server, last_port } => {
                // The page offers Save only once the range checks out.
                if let Ok(server) = server.with_port_range(last_port) {
                    config.turn_servers.push(server);
                }
            }
            Action::SetLync(lync) => config.lync_b2bua = lync,
            Action::SetTurnHealth(health) => config.turn_health = health,
            Action::SetSip(sip) => config.sip = sip,
            Action::SetRoutes(routes) => config.routes = routes,
            Action::SetMediaPolicy {
                zones,
                default_zone,
                encryption_b2bua,
            } => {
                config.zones = zones;
                config.default_zone = default_zone;
                config.encryption_b2bua = encryption_b2bua;
            }
            Action::SetAuthentication(authentication) => config.authentication = authentication,
            Action::Reset => {
                config =
                    serde_json::from_str(twoleg_core::config::DEFAULT_CONFIG).unwrap_or_default();
            }
        }
        Rc::new(Self::new(config))
    }
}
