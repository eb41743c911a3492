//! A sans-IO TURN client for one allocation (RFC 8656 over UDP, long-term credentials):
//! Allocate (401 → authenticated retry, 438 stale nonce, 300 Try Alternate), Refresh, Refresh
//! with lifetime 0, CreatePermission; requests retransmitted per RFC 8489 §6.2.1. Transaction
//! ids come from the caller's RNG, time from the caller: the engine stays deterministic.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;

use super::stun::{self, Class, Message, TransactionId};
use crate::config::Password;
use crate::time::Instant;

/// RFC 8489 §6.2.1: initial RTO.
const RTO: Duration = Duration::from_millis(500);
/// Rc: transmissions of one request.
const SENDS: u32 = 7;
/// Rm: the last wait, in RTOs.
const LAST_WAIT: u32 = 16;
/// Nonce or redirect rounds before giving up.
const MAX_ROUNDS: u32 = 8;

/// Where an allocation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocationState {
    /// Allocate sent, waiting.
    Allocating,
    /// The server granted a relay.
    Allocated {
        /// The relayed transport address (for `typ relay` candidates).
        relayed: SocketAddr,
        /// The client's address as the server saw it (for `raddr`/`rport`).
        mapped: SocketAddr,
        /// Granted lifetime.
        lifetime: Duration,
    },
    /// The allocation failed.
    Failed(TurnFailure),
    /// Deleted with Refresh(lifetime 0), or expired.
    Closed,
}

/// Why an allocation failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TurnFailure {
    /// The server answered with this error code (401 after credentials: wrong password).
    #[error("{}", error_words(*.0))]
    Error(u16),
    /// No answer after every retransmission.
    #[error("no answer from the TURN server (RFC 8489 retransmissions exhausted)")]
    Timeout,
    /// Too many stale nonces or redirects.
    #[error("too many stale nonces or redirects")]
    TooManyRounds,
}

/// The words for a TURN error code (RFC 8489 §14.8, RFC 8656 §18.9).
fn error_words(code: u16) -> String {
    match code {
        401 => "401 Unauthorized: wrong username or password".to_owned(),
        437 => "437 Allocation Mismatch".to_owned(),
        441 => "441 Wrong Credentials".to_owned(),
        442 => "442 Unsupported Transport Protocol".to_owned(),
        486 => "486 Allocation Quota Reached".to_owned(),
        508 => "508 Insufficient Capacity".to_owned(),
        other => format!("error {other} from the TURN server"),
    }
}

impl TurnFailure {
    /// The TURN error code, when the server answered with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Error(code) => Some(*code),
            Self::Timeout | Self::TooManyRounds => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Allocate,
    Refresh(u32),
    Permission(IpAddr),
}

#[derive(Debug)]
struct Pending {
    request: Request,
    transaction: TransactionId,
    bytes: Vec<u8>,
    sends: u32,
    next: Instant,
    interval: Duration,
}

/// One allocation on one TURN server.
#[derive(Debug)]
pub struct TurnAllocation {
    server: SocketAddr,
    username: String,
    password: Password,
    realm: Option<String>,
    nonce: Option<String>,
    state: AllocationState,
    pending: Vec<Pending>,
    rounds: u32,
    permissions: Vec<IpAddr>,
}

impl TurnAllocation {
    /// Starts allocating on `server`; returns the allocation and the first datagram to send.
    #[must_use]
    pub fn allocate(
        server: SocketAddr,
        username: &str,
        password: &str,
        now: Instant,
        rng: &mut impl Rng,
    ) -> (Self, Vec<u8>) {
        let mut allocation = Self {
            server,
            username: username.to_owned(),
            password: Password::new(password),
            realm: None,
            nonce: None,
            state: AllocationState::Allocating,
            pending: Vec::new(),
            rounds: 0,
            permissions: Vec::new(),
        };
        let bytes = allocation.send(Request::Allocate, now, rng);
        (allocation, bytes)
    }

    /// The TURN server (it may change after a 300 Try Alternate).
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Where the allocation stands.
    pub fn state(&self) -> &AllocationState {
        &self.state
    }

    /// Peers with a permission granted.
    pub fn permissions(&self) -> &[IpAddr] {
        &self.permissions
    }

    /// When to call [`TurnAllocation::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.next).min()
    }

    /// Retransmits or gives up; returns datagrams to send to [`TurnAllocation::server`].
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for pending in &mut self.pending {
            if pending.next > now {
                continue;
            }
            if pending.sends >= SENDS {
                failed.push(pending.transaction);
                continue;
            }
            pending.sends += 1;
            pending.interval *= 2;
            pending.next = now
                + if pending.sends == SENDS {
                    RTO * LAST_WAIT
                } else {
                    pending.interval
                };
            out.push(pending.bytes.clone());
        }
        for transaction in failed {
            if let Some(index) = self
                .pending
                .iter()
                .position(|p| p.transaction == transaction)
            {
                let pending = self.pending.remove(index);
                if pending.request == Request::Allocate {
                    self.state = AllocationState::Failed(TurnFailure::Timeout);
                }
            }
        }
        out
    }

    /// A datagram from the server; returns datagrams to send in reply (an authenticated retry).
    #[must_use]
    pub fn handle_datagram(
        &mut self,
        bytes: &[u8],
        now: Instant,
        rng: &mut impl Rng,
    ) -> Vec<Vec<u8>> {
        let Ok(message) = Message::decode(bytes) else {
            return Vec::new();
        };
        // Only a response settles a request; a request or indication echoing its transaction
        // id is not an answer.
        if !matches!(message.class, Class::Success | Class::Error) {
            return Vec::new();
        }
        let Some(index) = self
            .pending
            .iter()
            .position(|p| p.transaction == message.transaction)
        else {
            return Vec::new();
        };
        let pending = self.pending.remove(index);
        match message.class {
            Class::Success => {
                // Nonce and redirect rounds count toward one request's success, not the
                // allocation's life: a long call sees many stale nonces.
                self.rounds = 0;
                self.on_success(pending.request, &message);
                Vec::new()
            }
            Class::Error => self.on_error(pending.request, &message, now, rng),
            Class::Request | Class::Indication => Vec::new(),
        }
    }

    /// Refreshes the allocation for `lifetime` (zero deletes it); returns the request to send.
    #[must_use]
    pub fn refresh(&mut self, lifetime: Duration, now: Instant, rng: &mut impl Rng) -> Vec<u8> {
        let seconds = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        self.send(Request::Refresh(seconds), now, rng)
    }

    /// Asks for a permission for `peer` (the port is ignored by TURN servers); returns the
    /// request to send.
    #[must_use]
    pub fn create_permission(&mut self, peer: IpAddr, now: Instant, rng: &mut impl Rng) -> Vec<u8> {
        self.send(Request::Permission(peer), now, rng)
    }

    fn on_success(&mut self, request: Request, message: &Message) {
        match request {
            Request::Allocate => {
                let relayed = message.xor_address(stun::AttrType::XOR_RELAYED_ADDRESS);
                let mapped = message.xor_address(stun::AttrType::XOR_MAPPED_ADDRESS);
                self.state = match (relayed, mapped) {
                    (Some(relayed), Some(mapped)) => AllocationState::Allocated {
                        relayed,
                        mapped,
                        lifetime: Duration::from_secs(u64::from(message.lifetime().unwrap_or(600))),
                    },
                    _ => AllocationState::Failed(TurnFailure::Error(500)),
                };
            }
            Request::Refresh(0) => self.state = AllocationState::Closed,
            Request::Refresh(_) => {}
            Request::Permission(peer) => {
                if !self.permissions.contains(&peer) {
                    self.permissions.push(peer);
                }
            }
        }
    }

    fn on_error(
        &mut self,
        request: Request,
        message: &Message,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Vec<Vec<u8>> {
        let code = message.error_code().unwrap_or(500);
        let had_credentials = self.nonce.is_some();
        if let Some(nonce) = message.text(stun::AttrType::NONCE) {
            self.nonce = Some(nonce);
        }
        if let Some(realm) = message.text(stun::AttrType::REALM) {
            self.realm = Some(realm);
        }
        let retry = match code {
            // The first 401 asks for credentials; a 401 after them means they are wrong.
            401 => !had_credentials && self.nonce.is_some(),
            438 => true,
            300 if request == Request::Allocate => {
                match message.address(stun::AttrType::ALTERNATE_SERVER) {
                    Some(alternate) => {
                        self.server = alternate;
                        self.nonce = None;
                        self.realm = None;
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if retry {
            self.rounds += 1;
            if self.rounds > MAX_ROUNDS {
                self.fail(request, TurnFailure::TooManyRounds);
                return Vec::new();
            }
            return vec![self.send(request, now, rng)];
        }
        self.fail(request, TurnFailure::Error(code));
        Vec::new()
    }

    fn fail(&mut self, request: Request, failure: TurnFailure) {
        if request == Request::Allocate {
            self.state = AllocationState::Failed(failure);
        }
    }

    fn send(&mut self, request: Request, now: Instant, rng: &mut impl Rng) -> Vec<u8> {
        let transaction = TransactionId(rng.random());
        let method = match request {
            Request::Allocate => stun::Method::ALLOCATE,
            Request::Refresh(_) => stun::Method::REFRESH,
            Request::Permission(_) => stun::Method::CREATE_PERMISSION,
        };
        let mut message = Message::request(method, transaction);
        match request {
            Request::Allocate => {
                // REQUESTED-TRANSPORT: UDP (17).
                message.push(stun::AttrType::REQUESTED_TRANSPORT, [17, 0, 0, 0]);
                message.push(stun::AttrType::LIFETIME, 600_u32.to_be_bytes());
            }
            Request::Refresh(seconds) => {
                message.push(stun::AttrType::LIFETIME, seconds.to_be_bytes())
            }
            Request::Permission(peer) => message.push(
                stun::AttrType::XOR_PEER_ADDRESS,
                stun::encode_xor_address(SocketAddr::new(peer, 0), &transaction),
            ),
        }
        let key = match (&self.realm, &self.nonce) {
            (Some(realm), Some(nonce)) => {
                message.push(stun::AttrType::USERNAME, self.username.as_bytes());
                message.push(stun::AttrType::REALM, realm.as_bytes());
                message.push(stun::AttrType::NONCE, nonce.as_bytes());
                Some(stun::long_term_key(
                    &self.username,
                    realm,
                    self.password.expose(),
                ))
            }
            _ => None,
        };
        let bytes = message.encode(key.as_ref(), true);
        self.pending.push(Pending {
            request,
            transaction,
            bytes: bytes.clone(),
            sends: 1,
            next: now + RTO,
            interval: RTO,
        });
        bytes
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn an_unanswered_allocate_is_sent_seven_times_and_fails_after_39_5_s() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let server = "127.0.0.2:3478".parse().unwrap();
        let (mut allocation, _) =
            TurnAllocation::allocate(server, "alice", "secret", Instant::ZERO, &mut rng);
        let mut sends = vec![0];
        while let Some(at) = allocation.poll_timeout() {
            if !allocation.handle_timeout(at).is_empty() {
                sends.push(at.as_millis());
            }
            if matches!(allocation.state(), AllocationState::Failed(_)) {
                assert_eq!(
                    at.as_millis(),
                    39_500,
                    "RFC 8489: Rm x RTO after the last send"
                );
                break;
            }
        }
        assert_eq!(sends, [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert_eq!(
            allocation.state(),
            &AllocationState::Failed(TurnFailure::Timeout)
        );
        assert_eq!(allocation.poll_timeout(), None, "nothing left to do");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let server = "127.0.0.2:3478".parse().unwrap();
        let (allocation, _) =
            TurnAllocation::allocate(server, "alice", "hunter2", Instant::ZERO, &mut rng);
        assert!(!format!("{allocation:?}").contains("hunter2"));
    }
}
