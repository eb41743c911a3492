//! A simulated TURN server for the simulator and behaviour tests: Binding, Allocate with the
//! long-term credential mechanism (401 with realm and nonce, then a checked
//! MESSAGE-INTEGRITY), Refresh (lifetime 0 deletes), CreatePermission, and 437 for a second
//! allocation from the same client address, as RFC 8656 servers such as coturn answer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use twoleg_core::config::Password;
use twoleg_core::turn::stun::{self, Class, Message};

const REALM: &str = "twoleg.sim";
const NONCE: &str = "5ebf8a0c1d2e3f40";

/// One simulated TURN server listening on one address.
#[derive(Debug)]
pub struct SimTurnServer {
    address: SocketAddr,
    username: String,
    password: Password,
    next_port: u16,
    allocations: BTreeMap<SocketAddr, SocketAddr>,
    granted: u64,
}

impl SimTurnServer {
    /// A server at `address` accepting these credentials, handing out relays on its own IP from
    /// port `first_relay_port` up.
    pub fn new(address: SocketAddr, username: &str, password: &str, first_relay_port: u16) -> Self {
        Self {
            address,
            username: username.to_owned(),
            password: Password::new(password),
            next_port: first_relay_port,
            allocations: BTreeMap::new(),
            granted: 0,
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Allocations alive now.
    pub fn live_allocations(&self) -> usize {
        self.allocations.len()
    }

    /// Allocations granted so far.
    pub fn granted(&self) -> u64 {
        self.granted
    }

    /// A datagram from `source`; returns the answer, if any (indications and garbage get none).
    pub fn handle(&mut self, source: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let request = Message::decode(bytes).ok()?;
        if request.class != Class::Request {
            return None;
        }
        if request.method == stun::Method::BINDING {
            let mut response = Message::response(&request, Class::Success);
            response.push(
                stun::AttrType::XOR_MAPPED_ADDRESS,
                stun::encode_xor_address(source, &request.transaction),
            );
            return Some(response.encode(None, true));
        }
        let key = stun::long_term_key(&self.username, REALM, self.password.expose());
        let authenticated = request.text(stun::AttrType::USERNAME).as_deref()
            == Some(&self.username)
            && stun::integrity_matches(bytes, &key);
        if !authenticated {
            let mut response = Message::response(&request, Class::Error);
            response.push(
                stun::AttrType::ERROR_CODE,
                stun::error_code_value(401, "Unauthorized"),
            );
            response.push(stun::AttrType::REALM, REALM);
            response.push(stun::AttrType::NONCE, NONCE);
            return Some(response.encode(None, true));
        }
        let error = |code: u16, reason: &str| {
            let mut response = Message::response(&request, Class::Error);
            response.push(
                stun::AttrType::ERROR_CODE,
                stun::error_code_value(code, reason),
            );
            response.encode(Some(&key), true)
        };
        let mut response = Message::response(&request, Class::Success);
        match request.method {
            stun::Method::ALLOCATE => {
                if self.allocations.contains_key(&source) {
                    return Some(error(437, "Allocation Mismatch"));
                }
                let relayed = SocketAddr::new(self.relay_ip(), self.next_port);
                self.next_port = self.next_port.wrapping_add(1).max(1024);
                self.allocations.insert(source, relayed);
                self.granted += 1;
                let transaction = request.transaction;
                response.push(
                    stun::AttrType::XOR_RELAYED_ADDRESS,
                    stun::encode_xor_address(relayed, &transaction),
                );
                response.push(
                    stun::AttrType::XOR_MAPPED_ADDRESS,
                    stun::encode_xor_address(source, &transaction),
                );
                response.push(stun::AttrType::LIFETIME, 600_u32.to_be_bytes());
            }
            stun::Method::REFRESH => {
                if !self.allocations.contains_key(&source) {
                    return Some(error(437, "Allocation Mismatch"));
                }
                let lifetime = request.lifetime().unwrap_or(600).min(3_600);
                if lifetime == 0 {
                    self.allocations.remove(&source);
                }
                response.push(stun::AttrType::LIFETIME, lifetime.to_be_bytes());
            }
            stun::Method::CREATE_PERMISSION => {
                if !self.allocations.contains_key(&source) {
                    return Some(error(437, "Allocation Mismatch"));
                }
            }
            _ => return Some(error(400, "Bad Request")),
        }
        Some(response.encode(Some(&key), true))
    }

    fn relay_ip(&self) -> IpAddr {
        self.address.ip()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use twoleg_core::Instant;
    use twoleg_core::turn::{AllocationState, TurnAllocation, TurnFailure};

    fn exchange(server: &mut SimTurnServer, allocation: &mut TurnAllocation, first: Vec<u8>) {
        let client: SocketAddr = "127.0.0.1:56000".parse().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut queue = vec![first];
        while let Some(bytes) = queue.pop() {
            if let Some(answer) = server.handle(client, &bytes) {
                queue.extend(allocation.handle_datagram(&answer, Instant::ZERO, &mut rng));
            }
        }
    }

    #[test]
    fn the_client_allocates_and_deletes_on_the_simulated_server() {
        let address = "127.0.0.2:3478".parse().unwrap();
        let mut server = SimTurnServer::new(address, "alice", "secret", 49_152);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut allocation, first) =
            TurnAllocation::allocate(address, "alice", "secret", Instant::ZERO, &mut rng);
        exchange(&mut server, &mut allocation, first);
        let AllocationState::Allocated {
            relayed, mapped, ..
        } = allocation.state().clone()
        else {
            panic!("{:?}", allocation.state());
        };
        assert_eq!(relayed, "127.0.0.2:49152".parse().unwrap());
        assert_eq!(mapped, "127.0.0.1:56000".parse().unwrap());
        assert_eq!(server.live_allocations(), 1);
        let delete = allocation.refresh(std::time::Duration::ZERO, Instant::ZERO, &mut rng);
        exchange(&mut server, &mut allocation, delete);
        assert_eq!(allocation.state(), &AllocationState::Closed);
        assert_eq!(server.live_allocations(), 0);

        let (mut wrong, first) =
            TurnAllocation::allocate(address, "alice", "nope", Instant::ZERO, &mut rng);
        exchange(&mut server, &mut wrong, first);
        assert_eq!(
            wrong.state(),
            &AllocationState::Failed(TurnFailure::Error(401))
        );
    }
}
