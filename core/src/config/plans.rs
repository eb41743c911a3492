//! The typed parts of a valid config: listeners, timers, routes and their matchers, zones (with
//! who may call), digest authentication, flood protection, the encryption and Lync B2BUAs'
//! policies and TURN health probing.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::{
    AdminRole, AuthenticationPolicy, CallAcceptance, DigestAlgorithm, Encryption, FloodAction,
    MediaEncryptionMode,
};
use super::secret::Password;
use crate::Transport;

/// A UDP listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerPlan {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its transport.
    pub transport: Transport,
    /// For a TLS listener: its files.
    pub tls: Option<TlsPlan>,
    /// Concurrent calls arriving on it at most.
    pub max_calls: Option<usize>,
    /// New calls arriving on it per second at most.
    pub max_calls_per_second: Option<usize>,
}

/// The files of a TLS listener (paths, read by the runner), and whether clients must show a
/// certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPlan {
    /// PEM certificate chain, leaf first.
    pub certificate_chain: String,
    /// PEM private key.
    pub private_key: String,
    /// PEM CA certificates trusted for peers; `None`: the public web PKI roots (servers only).
    pub ca: Option<String>,
    /// Mutual TLS: clients must present a certificate signed by `ca`.
    pub require_client_certificate: bool,
}

/// Limits on TCP and TLS connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max: usize,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// A TLS handshake or outbound connect that takes longer fails.
    pub handshake_timeout: Duration,
}

/// The RFC 3261 timer base values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerValues {
    /// Round-trip estimate.
    pub t1: Duration,
    /// Cap on retransmission intervals.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for TimerValues {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// A route in typed form.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// Its name (or `route N` when the file gave none).
    pub name: String,
    /// Pattern for the Request-URI user part.
    pub user: Option<Matcher>,
    /// Pattern for the Request-URI host part.
    pub host: Option<Matcher>,
    /// Where the B leg may go, at least one.
    pub destinations: Vec<DestinationPlan>,
    /// How long an INVITE waits for any response from one destination before the next is
    /// tried; `None`: until Timer B.
    pub failover_after: Option<Duration>,
    /// OPTIONS pings to the destinations, when on.
    pub ping: Option<PingPolicy>,
    /// The Request-URI's new user part on the B leg.
    pub rewrite_user: Option<String>,
    /// The Request-URI's new host part (and port) on the B leg.
    pub rewrite_host: Option<(String, Option<u16>)>,
    /// Whether the call goes through the Microsoft Lync B2BUA.
    pub lync: bool,
    /// Index into [`ValidConfig::listeners`] of the listener the B leg uses; its transport is
    /// the B leg's.
    ///
    /// [`ValidConfig::listeners`]: super::ValidConfig::listeners
    pub listener: usize,
    /// On a UDP route whose destination also takes TCP: the TCP listener (on the same IP) that
    /// a request over 1,300 bytes goes from instead (RFC 3261 §18.1.1).
    pub large_requests_over: Option<usize>,
    /// On a TLS route: the name the destination's certificate must carry.
    pub tls_server_name: Option<String>,
    /// Which unknown headers go on to the other leg.
    pub headers: HeaderPolicy,
    /// Session timers of its own, if it has them (else the SIP settings', or the Lync
    /// B2BUA's on a Lync route).
    pub session_timers: Option<SessionTimerPolicy>,
    /// Concurrent calls at most.
    pub max_calls: Option<usize>,
    /// New calls per second at most.
    pub max_calls_per_second: Option<usize>,
}

/// One place a route's calls may go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationPlan {
    /// Where.
    pub target: Target,
    /// Lower goes first.
    pub priority: u16,
    /// Share of the calls among those of the same priority.
    pub weight: u16,
}

/// A destination: an address, or a host name the engine resolves (RFC 3263).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `ip:port`.
    Address(SocketAddr),
    /// `host:port` (A or AAAA records) or `host` (NAPTR, SRV, then A or AAAA).
    Name {
        /// The host name, lower case.
        host: String,
        /// The port, when given.
        port: Option<u16>,
    },
}

impl Target {
    /// The address, for an `ip:port` destination.
    pub fn address(&self) -> Option<SocketAddr> {
        match self {
            Self::Address(address) => Some(*address),
            Self::Name { .. } => None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(address) => address.fmt(f),
            Self::Name {
                host,
                port: Some(port),
            } => write!(f, "{host}:{port}"),
            Self::Name { host, port: None } => f.write_str(host),
        }
    }
}

/// How a route's destinations are pinged with OPTIONS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingPolicy {
    /// Time between pings (an unanswered ping counts as missed when the next is due).
    pub interval: Duration,
    /// Missed pings in a row before a destination is down.
    pub failures_before_down: u32,
}

/// Which headers TwoLeg does not know pass from one leg to the other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HeaderPolicy {
    /// All of them.
    #[default]
    Pass,
    /// None.
    Strip,
    /// These (lower case).
    Allow(Vec<String>),
}

impl HeaderPolicy {
    /// Whether an unknown header of this name passes.
    pub fn passes(&self, name: &str) -> bool {
        match self {
            Self::Pass => true,
            Self::Strip => false,
            Self::Allow(names) => names
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(name)),
        }
    }
}

impl RoutePlan {
    /// Whether a Request-URI with this user and host part takes this route.
    pub fn matches(&self, user: Option<&str>, host: &str) -> bool {
        let user_ok = match &self.user {
            None => true,
            Some(matcher) => user.is_some_and(|user| matcher.matches(user, false)),
        };
        user_ok && self.host.as_ref().is_none_or(|m| m.matches(host, true))
    }
}

/// A compiled [`Pattern`](super::model::Pattern).
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal text.
    Exact(String),
    /// Text that starts with this.
    Prefix(String),
    /// Text that the whole expression matches.
    Regex(regex_lite::Regex),
}

impl Matcher {
    /// Whether `text` matches; hosts compare without regard to case.
    pub fn matches(&self, text: &str, ignore_case: bool) -> bool {
        match self {
            Self::Exact(want) if ignore_case => want.eq_ignore_ascii_case(text),
            Self::Exact(want) => want == text,
            Self::Prefix(want) if ignore_case => text
                .get(..want.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(want)),
            Self::Prefix(want) => text.starts_with(want.as_str()),
            Self::Regex(regex) => regex.is_match(text),
        }
    }
}

/// The Microsoft Lync B2BUA settings in typed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LyncPolicy {
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether TURN relay candidates are offered toward Lync.
    pub offer_turn_services: bool,
    /// Media encryption policy: `Required` makes both legs of a Lync call Force encrypted.
    pub encryption: Encryption,
    /// First and last media port.
    pub media_ports: (u16, u16),
    /// Max-Forwards toward Lync.
    pub hop_count: u8,
    /// Session timers (RFC 4028) on the legs of its calls.
    pub session_timers: SessionTimerPolicy,
    /// Lync signalling destination, if set: `ip:port`, `host:port` or a host name (a Lync
    /// pool's FQDN, resolved per RFC 3263 over TLS). Calls from its addresses are calls from
    /// Lync.
    pub signalling_destination: Option<Target>,
    /// Try another TURN server when an allocation fails.
    pub turn_failover: bool,
    /// How long the Lync leg's INVITE waits for its relays.
    pub turn_allocation_timeout: Duration,
}

/// TURN health probing, when switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Time between probes of each address/port combination.
    pub interval: Duration,
    /// Probes missed in a row before the combination is marked down.
    pub failures_before_down: u32,
}

/// An IP address block: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    /// The block's address.
    pub address: IpAddr,
    /// Leading bits that must match (32 or 128 for one address).
    pub prefix: u8,
}

impl IpBlock {
    /// Whether `ip` lies in the block (IPv4 and IPv6 never match each other).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A zone, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePlan {
    /// Its name.
    pub name: String,
    /// The blocks its peers are in.
    pub peers: Vec<IpBlock>,
    /// Its media encryption mode.
    pub mode: MediaEncryptionMode,
    /// Whether its calls are taken.
    pub calls: CallAcceptance,
    /// How its calls are authenticated.
    pub authentication: AuthenticationPolicy,
}

/// The zones in order, and the default zone's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneTable {
    /// The zones, first match wins.
    pub zones: Vec<ZonePlan>,
    /// The mode of addresses no zone holds.
    pub default_mode: MediaEncryptionMode,
    /// Whether calls from addresses no zone holds are taken.
    pub default_calls: CallAcceptance,
    /// How calls from addresses no zone holds are authenticated.
    pub default_authentication: AuthenticationPolicy,
}

/// What a zone lets a caller do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneAccess<'a> {
    /// The zone's name (`Default Zone` for addresses no zone holds).
    pub zone: &'a str,
    /// Whether its calls are taken.
    pub calls: CallAcceptance,
    /// How its calls are authenticated.
    pub authentication: AuthenticationPolicy,
}

impl ZoneTable {
    /// The zone `ip` is in, with its call acceptance and authentication policy.
    pub fn access_of(&self, ip: IpAddr) -> ZoneAccess<'_> {
        self.zones
            .iter()
            .find(|zone| zone.peers.iter().any(|block| block.contains(ip)))
            .map_or(
                ZoneAccess {
                    zone: "Default Zone",
                    calls: self.default_calls,
                    authentication: self.default_authentication,
                },
                |zone| ZoneAccess {
                    zone: &zone.name,
                    calls: zone.calls,
                    authentication: zone.authentication,
                },
            )
    }

    /// The zone `ip` is in: its name (`Default Zone` when none lists it) and mode.
    pub fn zone_of(&self, ip: IpAddr) -> (&str, MediaEncryptionMode) {
        self.zones
            .iter()
            .find(|zone| zone.peers.iter().any(|block| block.contains(ip)))
            .map_or(("Default Zone", self.default_mode), |zone| {
                (zone.name.as_str(), zone.mode)
            })
    }
}

/// The encryption B2BUA's limits, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncryptionPolicy {
    /// Calls it takes at once.
    pub max_calls: usize,
    /// Its media ports, inclusive.
    pub media_ports: (u16, u16),
    /// How long an anchored call may go without media (not on hold); `None`: for ever.
    pub media_timeout: Option<Duration>,
}

/// Session timers (RFC 4028) as TwoLeg runs them on each leg of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerPolicy {
    /// Session-Expires TwoLeg asks for, and the most it grants.
    pub interval: Duration,
    /// Min-SE: a shorter Session-Expires is answered 422.
    pub min: Duration,
}

/// SIP digest authentication, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthPlan {
    /// The challenges' realm.
    pub realm: String,
    /// The algorithms offered, most preferred first.
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce may be used.
    pub nonce_lifetime: Duration,
    /// Passwords by username.
    pub credentials: BTreeMap<String, Password>,
}

/// Flood protection, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodPlan {
    /// Requests one source may send in one second.
    pub max_per_second: u32,
    /// How long a source over it is refused.
    pub block: Duration,
    /// What its requests get meanwhile.
    pub action: FloodAction,
}

/// An admin API token, typed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenPlan {
    /// Who holds it.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// The SHA-256 of the token.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for AdminTokenPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokenPlan")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}
