//! The config file as it is written: the serde model the browser exports and the runner reads.
//!
//! Every field here is the raw, user-written value. Numbers are wide (`u64`) and addresses are
//! strings so that a mistake such as port `70000` or address `10.0.0.300` still loads and is then
//! reported by [`validate`](super::validate) with its path, next to every other mistake in the
//! file. Only a [`ValidConfig`](super::ValidConfig) reaches the engine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret::Password;

/// The version of the config file format this TwoLeg reads and writes.
pub const CONFIG_VERSION: u64 = 1;

/// The whole config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file; always 1.
    pub version: u64,
    /// SIP listeners, transaction timers and hop count.
    pub sip: SipSettings,
    /// Routes, tried in order: the first whose match fits the Request-URI wins.
    pub routes: Vec<Route>,
    /// Zones: who a call comes from or goes to, and the media encryption mode of each, as
    /// Expressway sets it per zone. The first zone whose peers hold an address is its zone.
    pub zones: Vec<Zone>,
    /// The zone of every address no zone lists.
    pub default_zone: DefaultZone,
    /// The credentials zones with `check_credentials` challenge for (SIP digest).
    pub authentication: Authentication,
    /// Per-source flood protection (off by default).
    pub flood_protection: FloodProtection,
    /// The B2BUA that applies media encryption policy.
    pub encryption_b2bua: EncryptionB2bua,
    /// The Microsoft Lync B2BUA, as on Expressway's Applications > B2BUA > Microsoft Lync page.
    pub lync_b2bua: LyncB2bua,
    /// The B2BUA TURN servers, as on Expressway's Applications > B2BUA > B2BUA TURN servers page.
    pub turn_servers: Vec<TurnServer>,
    /// Health probing of the TURN servers (beyond Expressway; off by default).
    pub turn_health: TurnHealth,
    /// The runner's admin HTTP API.
    pub admin: Admin,
    /// The call history.
    pub history: History,
    /// Where the runner sends DNS queries for destinations given as host names.
    pub dns: Dns,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            sip: SipSettings::default(),
            routes: Vec::new(),
            zones: Vec::new(),
            default_zone: DefaultZone::default(),
            authentication: Authentication::default(),
            flood_protection: FloodProtection::default(),
            encryption_b2bua: EncryptionB2bua::default(),
            lync_b2bua: LyncB2bua::default(),
            turn_servers: Vec::new(),
            turn_health: TurnHealth::default(),
            admin: Admin::default(),
            history: History::default(),
            dns: Dns::default(),
        }
    }
}

/// SIP listeners, transaction timers and hop count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct SipSettings {
    /// Listeners, each on one transport (UDP, TCP or TLS); one address may carry several. The
    /// first one is where calls go out unless a route names another.
    pub listeners: Vec<Listener>,
    /// RFC 3261 transaction timer base values.
    pub timers: Timers,
    /// Max-Forwards put on requests the B2BUA originates (hop count); relayed requests carry the
    /// received value minus one.
    pub max_forwards: u64,
    /// Largest message accepted, in bytes: a larger datagram is dropped with an event, a larger
    /// message on a stream is a framing error that closes the connection.
    pub max_message_size: u64,
    /// How long the callee may ring before the B2BUA cancels the call (seconds; 0 = no limit).
    pub ring_timeout_s: u64,
    /// Session refresh interval (RFC 4028 Session-Expires) the B2BUA asks for on each leg of a
    /// call not through the Lync B2BUA, in seconds (Expressway's default 1800).
    pub session_refresh_interval_s: u64,
    /// Minimum session refresh interval (Min-SE) it accepts, in seconds (default 500, at
    /// least 90): a shorter Session-Expires is answered 422.
    pub min_session_refresh_interval_s: u64,
    /// Limits on TCP and TLS connections.
    pub connections: Connections,
}

/// Limits on TCP and TLS connections, inbound and outbound together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Connections {
    /// Open connections at most; beyond it new inbound connections are refused (default 1,000).
    pub max: u64,
    /// A connection that carries nothing this long is closed (seconds; default 600).
    pub idle_timeout_s: u64,
    /// A TLS handshake (or an outbound connect) that takes longer fails (milliseconds; default
    /// 5,000).
    pub handshake_timeout_ms: u64,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            max: 1_000,
            idle_timeout_s: 600,
            handshake_timeout_ms: 5_000,
        }
    }
}

impl Default for SipSettings {
    fn default() -> Self {
        Self {
            listeners: vec![Listener::default()],
            timers: Timers::default(),
            max_forwards: 70,
            max_message_size: 65_535,
            ring_timeout_s: 180,
            session_refresh_interval_s: 1_800,
            min_session_refresh_interval_s: 500,
            connections: Connections::default(),
        }
    }
}

/// One listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Listener {
    /// A name routes can refer to.
    pub name: String,
    /// `ip:port` to bind, for example `127.0.0.1:5060`.
    pub address: String,
    /// `udp` (default), `tcp` or `tls`.
    pub transport: String,
    /// For a `tls` listener: its certificate, key and the peers it trusts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Concurrent calls arriving on this listener at most (0: no limit); beyond it, 503 with
    /// Retry-After.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_calls: u64,
    /// New calls arriving on this listener per second at most (0: no limit); beyond it, 503
    /// with Retry-After.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_calls_per_second: u64,
}

impl Default for Listener {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            address: "127.0.0.1:5060".to_owned(),
            transport: "udp".to_owned(),
            tls: None,
            max_calls: 0,
            max_calls_per_second: 0,
        }
    }
}

/// What a TLS listener presents and trusts. The files are the runner's to read (PEM); the
/// browser keeps their names as text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain it presents, leaf first: to clients, and as a client on
    /// connections it opens (mutual TLS toward Lync).
    pub certificate_chain: String,
    /// Its private key.
    pub private_key: String,
    /// CA certificates it trusts for peers: servers it connects to, and clients when
    /// `require_client_certificate` is on. Empty: servers are checked against the public web
    /// PKI roots built into TwoLeg.
    pub ca: String,
    /// Clients must present a certificate signed by `ca` (mutual TLS).
    pub require_client_certificate: bool,
}

/// RFC 3261 §17 timer base values, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Timers {
    /// T1, the round-trip estimate (default 500 ms).
    pub t1_ms: u64,
    /// T2, the cap on non-INVITE and 2xx retransmission intervals (default 4 s).
    pub t2_ms: u64,
    /// T4, how long the network may hold a message (default 5 s).
    pub t4_ms: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
        }
    }
}

/// A route: which Request-URIs it takes and where they go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Route {
    /// A name shown in call history.
    pub name: String,
    /// What the Request-URI must look like; an empty match takes every call.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// Where the B leg goes: `ip:port`, `host:port` or a host name (resolved per RFC 3263).
    /// Leave empty when `destinations` lists several.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// Several places the B leg may go, instead of `destination`: calls are shared by weight
    /// among the healthy ones of the best (lowest) priority; a call fails over to the next
    /// one on 503, on no answer within `failover_after_ms`, or on a transport error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
    /// How long an INVITE waits for any response (even 100 Trying) from one destination
    /// before the call fails over to the next, in milliseconds; 0: until Timer B.
    #[serde(skip_serializing_if = "is_zero")]
    pub failover_after_ms: u64,
    /// OPTIONS pings to each destination every this many seconds (0: none). A destination
    /// that misses `ping_failures_before_down` in a row (or fails a call by timeout or
    /// transport error) is skipped until it answers a ping again.
    #[serde(skip_serializing_if = "is_zero")]
    pub ping_interval_s: u64,
    /// Missed pings in a row before a destination is down (0: the default, 3).
    #[serde(skip_serializing_if = "is_zero")]
    pub ping_failures_before_down: u64,
    /// A new user part for the Request-URI of the B leg (empty: kept).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rewrite_user: String,
    /// A new host part (`host` or `host:port`) for the Request-URI of the B leg (empty: kept).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rewrite_host: String,
    /// Whether the call goes through the Microsoft Lync B2BUA (and may be offered TURN).
    pub lync: bool,
    /// The listener the B leg is sent from (by name); empty means the first listener. Its
    /// transport is the B leg's.
    pub listener: String,
    /// On a UDP route: a request larger than 1,300 bytes goes over TCP instead (RFC 3261
    /// §18.1.1), for destinations that also take TCP on the same address; needs a TCP
    /// listener on the route listener's IP.
    pub large_requests_over_tcp: bool,
    /// On a TLS route: the name the destination's certificate must carry (and the SNI sent);
    /// empty: its IP address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_server_name: String,
    /// What happens to headers TwoLeg does not know when a message goes on to the other leg
    /// of a call on this route (Session-ID and every header TwoLeg knows follow their own
    /// rules).
    pub unknown_headers: UnknownHeaders,
    /// With `unknown_headers: allow_list`, the names that pass (any case).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// Session refresh interval for calls on this route, in seconds; 0: the SIP settings' (or
    /// the Lync B2BUA's, on a Lync route).
    #[serde(skip_serializing_if = "is_zero")]
    pub session_refresh_interval_s: u64,
    /// Minimum session refresh interval for calls on this route, in seconds; 0: as above.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_session_refresh_interval_s: u64,
    /// Concurrent calls on this route at most (0: no limit); beyond it, 503 with Retry-After.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_calls: u64,
    /// New calls on this route per second at most (0: no limit); beyond it, 503 with
    /// Retry-After.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_calls_per_second: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// One of a route's destinations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Destination {
    /// Where: `ip:port`.
    pub address: String,
    /// Lower goes first (RFC 2782 style); default 1.
    pub priority: u16,
    /// Share of the calls among destinations of the same priority; default 1.
    pub weight: u16,
}

impl Default for Destination {
    fn default() -> Self {
        Self {
            address: String::new(),
            priority: 1,
            weight: 1,
        }
    }
}

/// The policy for headers TwoLeg does not know (`X-...`, vendor headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownHeaders {
    /// They pass to the other leg as they are.
    #[default]
    Pass,
    /// They stay on their leg.
    Strip,
    /// Only those named in `allowed_headers` pass.
    AllowList,
}

/// A Request-URI match: both parts that are given must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct RouteMatch {
    /// Pattern for the user part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Pattern>,
    /// Pattern for the host part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Pattern>,
}

/// How one part of the Request-URI is compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// The whole part equals this text (case-sensitive for the user, not for the host).
    Exact(String),
    /// The part starts with this text.
    Prefix(String),
    /// The whole part matches this regular expression.
    Regex(String),
}

/// The Microsoft Lync B2BUA settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct LyncB2bua {
    /// Whether the Lync B2BUA is enabled.
    pub enabled: bool,
    /// Offer TURN services: put relay candidates from a B2BUA TURN server in the Lync leg's SDP.
    pub offer_turn_services: bool,
    /// Media encryption policy.
    pub encryption: Encryption,
    /// B2BUA media port range (default 56000–57000).
    pub media_port_range: PortRange,
    /// Max-Forwards on requests toward Lync (default 70).
    pub hop_count: u64,
    /// RFC 4028 Session-Expires (default 1800 s).
    pub session_refresh_interval_s: u64,
    /// RFC 4028 Min-SE (default 500 s).
    pub min_session_refresh_interval_s: u64,
    /// Lync signalling destination: `ip:port`, `host:port` or a host name (a pool FQDN, resolved
    /// per RFC 3263) of the Front End, Director or load balancer.
    pub signalling_destination: String,
    /// When an allocation fails, try another TURN server before going on without relays.
    pub turn_failover: bool,
    /// How long the Lync leg's INVITE waits for its relays before going on without them
    /// (milliseconds, default 3000).
    pub turn_allocation_timeout_ms: u64,
}

impl Default for LyncB2bua {
    fn default() -> Self {
        Self {
            enabled: false,
            offer_turn_services: false,
            encryption: Encryption::Auto,
            media_port_range: PortRange {
                start: 56_000,
                end: 57_000,
            },
            hop_count: 70,
            session_refresh_interval_s: 1_800,
            min_session_refresh_interval_s: 500,
            signalling_destination: String::new(),
            turn_failover: false,
            turn_allocation_timeout_ms: 3_000,
        }
    }
}

/// A zone: the peers it holds and the encryption mode of the media to and from them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Zone {
    /// Its name, shown in call status and history.
    pub name: String,
    /// Its peers: IP addresses or CIDR blocks (`192.0.2.10`, `10.1.0.0/16`, `2001:db8::/32`).
    pub peers: Vec<String>,
    /// Media encryption mode.
    pub media_encryption_mode: MediaEncryptionMode,
    /// Whether calls (INVITEs) from the zone's peers are taken (default), refused with 403, or
    /// dropped without an answer.
    pub calls: CallAcceptance,
    /// How calls from the zone are authenticated, as Expressway names it.
    pub authentication_policy: AuthenticationPolicy,
}

/// The zone of every address no zone lists (Expressway's Default Zone).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct DefaultZone {
    /// Media encryption mode.
    pub media_encryption_mode: MediaEncryptionMode,
    /// Whether calls from addresses no zone lists are taken, refused with 403, or dropped.
    pub calls: CallAcceptance,
    /// How calls from addresses no zone lists are authenticated.
    pub authentication_policy: AuthenticationPolicy,
}

/// Whether a zone's calls are taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallAcceptance {
    /// Taken (then authenticated as the zone's policy says).
    #[default]
    Accept,
    /// Answered 403 Forbidden: no leg B, no TURN allocation.
    Refuse,
    /// Dropped without an answer (the caller's INVITE times out), and counted.
    Drop,
}

/// A zone's authentication policy, as Expressway names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticationPolicy {
    /// Check credentials: a call is challenged (407 Proxy-Authenticate, RFC 3261 §22 digest)
    /// and goes on only with credentials from `authentication.credentials`.
    CheckCredentials,
    /// Do not check credentials: calls are not challenged, and count as not authenticated.
    #[default]
    DoNotCheckCredentials,
    /// Treat as authenticated: calls are not challenged, and count as authenticated.
    TreatAsAuthenticated,
}

/// SIP digest authentication (RFC 3261 §22, RFC 8760).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Authentication {
    /// The realm of TwoLeg's challenges (default `twoleg`).
    pub realm: String,
    /// The digest algorithms offered, most preferred first: one challenge header each
    /// (default SHA-256, then MD5).
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce may be used, in seconds (default 300); an expired one is challenged
    /// again with `stale=true`.
    pub nonce_lifetime_s: u64,
    /// Who may call through zones that check credentials.
    pub credentials: Vec<Credential>,
}

impl Default for Authentication {
    fn default() -> Self {
        Self {
            realm: "twoleg".to_owned(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_lifetime_s: 300,
            credentials: Vec::new(),
        }
    }
}

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DigestAlgorithm {
    /// SHA-256 (RFC 8760).
    #[serde(rename = "SHA-256")]
    Sha256,
    /// MD5 (RFC 3261 §22).
    #[serde(rename = "MD5")]
    Md5,
}

/// One user's SIP credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Credential {
    /// The digest username.
    pub username: String,
    /// The password; shown as `***` anywhere but in the exported file.
    pub password: Password,
}

/// Per-source flood protection: a source that sends more requests in one second than the
/// limit is refused for a while.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct FloodProtection {
    /// Requests per second one source IP may send (0: no limit, the default).
    pub max_requests_per_second: u64,
    /// How long a source over the limit is refused, in seconds (default 30).
    pub block_s: u64,
    /// What a blocked source's requests get: `respond` (503 with Retry-After) or `drop`.
    pub action: FloodAction,
}

impl Default for FloodProtection {
    fn default() -> Self {
        Self {
            max_requests_per_second: 0,
            block_s: 30,
            action: FloodAction::Respond,
        }
    }
}

/// What a flooding source's requests get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FloodAction {
    /// 503 Service Unavailable with Retry-After (the rest of the block).
    #[default]
    Respond,
    /// Nothing.
    Drop,
}

/// A zone's media encryption mode, as Expressway names them. It applies to the leg toward
/// that zone only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaEncryptionMode {
    /// Force encrypted: all media to and from the zone is encrypted (SRTP); a peer that cannot
    /// encrypt has its call refused or ended.
    ForceEncrypted,
    /// Force unencrypted: all media is clear (RTP); a peer that insists on SRTP has its call
    /// refused or ended.
    ForceUnencrypted,
    /// Best effort: encrypted if the peer can, clear otherwise.
    BestEffort,
    /// Auto: no policy; whatever the endpoints negotiate. The B2BUA takes the media only when
    /// the other leg's zone has a policy.
    #[default]
    Auto,
}

/// The B2BUA that applies media encryption policy: engaged for every call where either leg's
/// zone is not Auto.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct EncryptionB2bua {
    /// Calls it takes at once (Expressway: 100, 500 on Large); beyond, a call that needs it is
    /// refused with 503 and Retry-After.
    pub max_calls: u64,
    /// Ports for anchored media: an even RTP and the odd RTCP port above it per leg and media
    /// line (default 36000-59999, Expressway's media range; the Lync B2BUA's range is left out).
    pub media_port_range: PortRange,
    /// Seconds without a media packet on either leg of an anchored call (this B2BUA's or the
    /// Lync B2BUA's) before it is ended with BYE on both legs, unless on hold (default 60;
    /// 0 = never).
    pub media_timeout_s: u64,
}

impl Default for EncryptionB2bua {
    fn default() -> Self {
        Self {
            max_calls: 100,
            media_port_range: PortRange {
                start: 36_000,
                end: 59_999,
            },
            media_timeout_s: 60,
        }
    }
}

/// Media encryption policy of the Lync B2BUA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    /// Any mix of encrypted and unencrypted legs.
    #[default]
    Auto,
    /// Both legs must be encrypted.
    Required,
}

/// An inclusive port range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct PortRange {
    /// First port.
    pub start: u64,
    /// Last port (inclusive).
    pub end: u64,
}

/// One B2BUA TURN server, with Expressway's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct TurnServer {
    /// TURN server address (an IP address).
    pub address: String,
    /// TURN server port (default 3478).
    pub port: u64,
    /// Free-form description.
    pub description: String,
    /// TURN services username (long-term credential).
    pub username: String,
    /// TURN services password; shown as `***` anywhere but in the exported file.
    pub password: Password,
    /// Further address/port combinations of the same server (a large deployment listening on
    /// several ports). Each is a separate choice for the random load balancing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_addresses: Vec<TurnAddress>,
}

impl Default for TurnServer {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 3478,
            description: String::new(),
            username: String::new(),
            password: Password::default(),
            additional_addresses: Vec::new(),
        }
    }
}

/// An extra address/port combination of a TURN server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct TurnAddress {
    /// IP address.
    pub address: String,
    /// Port (default 3478).
    pub port: u64,
}

impl Default for TurnAddress {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 3478,
        }
    }
}

/// STUN Binding probes of every TURN address/port combination: one that misses
/// `failures_before_down` probes in a row is marked down and left out of the selection until it
/// answers again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct TurnHealth {
    /// Milliseconds between probes; 0 turns probing off (the default, as Expressway).
    pub probe_interval_ms: u64,
    /// Probes missed in a row before a server is marked down (default 3).
    pub failures_before_down: u64,
}

impl Default for TurnHealth {
    fn default() -> Self {
        Self {
            probe_interval_ms: 0,
            failures_before_down: 3,
        }
    }
}

/// The DNS servers the runner asks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Dns {
    /// `ip:port` of each server, asked in order; empty: the system's (`/etc/resolv.conf`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
}

/// The runner's admin HTTP API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Admin {
    /// `ip:port` of the admin HTTP listener (default 127.0.0.1:8080). An address other than
    /// loopback needs `tokens` and `tls`.
    pub listen: String,
    /// Bearer tokens, each stored as the SHA-256 of the token (hex); with any, every request
    /// but `GET /healthz` needs one (`Authorization: Bearer <token>`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<AdminToken>,
    /// HTTPS: the certificate chain and private key (PEM files, relative names from the config
    /// file's directory); none: plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<AdminTls>,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            tokens: Vec::new(),
            tls: None,
        }
    }
}

/// One admin API token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct AdminToken {
    /// Who or what holds it (shown in logs).
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// The SHA-256 of the token, 64 hex digits (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
}

/// What an admin token may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Read: call status, history, config, routes, sources, metrics.
    #[default]
    Read,
    /// Operate: read, and disconnect calls.
    Operate,
}

/// The admin API's HTTPS certificate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct AdminTls {
    /// The certificate chain it presents, leaf first (PEM).
    pub certificate_chain: String,
    /// Its private key (PEM).
    pub private_key: String,
}

/// Call history settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct History {
    /// How many finished calls are kept (default 500, as Expressway).
    pub max_calls: u64,
}

impl Default for History {
    fn default() -> Self {
        Self { max_calls: 500 }
    }
}
