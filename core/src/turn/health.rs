//! Health probing of the TURN servers (beyond Expressway, off by default): an unauthenticated
//! STUN Binding request to every address/port combination each interval. A probe still
//! unanswered when the next one is due counts as missed; a combination that misses
//! `failures_before_down` probes in a row is marked [`Health::Down`] and left out of the
//! selection until it answers a probe again.

use std::net::SocketAddr;

use rand::Rng;

use super::stun::{self, Class, Message, TransactionId};
use super::table::{EndpointId, Health, TurnServerTable};
use crate::config::HealthPolicy;

/// The probing state of every combination of a table.
#[derive(Debug)]
pub(crate) struct HealthProbes {
    policy: HealthPolicy,
    probes: Vec<Probe>,
}

#[derive(Debug, Default)]
struct Probe {
    outstanding: Option<TransactionId>,
    missed: u32,
}

/// What one probing round or one answer changed, and what to send.
#[derive(Debug, Default)]
pub(crate) struct ProbeWork {
    /// Combinations whose health changed.
    pub(crate) changes: Vec<(EndpointId, Health)>,
    /// Binding requests to send, with their destinations.
    pub(crate) requests: Vec<(SocketAddr, Vec<u8>)>,
}

impl HealthProbes {
    pub(crate) fn new(policy: HealthPolicy, table: &TurnServerTable) -> Self {
        Self {
            policy,
            probes: table.iter().map(|_| Probe::default()).collect(),
        }
    }

    pub(crate) fn policy(&self) -> HealthPolicy {
        self.policy
    }

    /// A probing round: counts the probes left unanswered and sends new ones.
    pub(crate) fn tick(&mut self, table: &TurnServerTable, rng: &mut impl Rng) -> ProbeWork {
        let mut work = ProbeWork::default();
        for ((id, endpoint, health), probe) in table.iter().zip(&mut self.probes) {
            if probe.outstanding.take().is_some() {
                probe.missed += 1;
                if probe.missed >= self.policy.failures_before_down && health == Health::Up {
                    work.changes.push((id, Health::Down));
                }
            }
            let transaction = TransactionId(rng.random());
            probe.outstanding = Some(transaction);
            let request = Message::request(stun::Method::BINDING, transaction);
            work.requests
                .push((endpoint.address, request.encode(None, true)));
        }
        work
    }

    /// A STUN message that may answer a probe.
    pub(crate) fn handle_response(
        &mut self,
        source: SocketAddr,
        message: &Message,
        table: &TurnServerTable,
    ) -> ProbeAnswer {
        if message.method != stun::Method::BINDING
            || !matches!(message.class, Class::Success | Class::Error)
        {
            return ProbeAnswer::NotAProbe;
        }
        let Some((index, probe)) = self
            .probes
            .iter_mut()
            .enumerate()
            .find(|(_, p)| p.outstanding == Some(message.transaction))
        else {
            return ProbeAnswer::NotAProbe;
        };
        let id = EndpointId(index);
        if table.endpoint(id).map(|e| e.address) != Some(source) {
            return ProbeAnswer::NotAProbe;
        }
        probe.outstanding = None;
        probe.missed = 0;
        if table.health(id) == Some(Health::Down) {
            ProbeAnswer::CameBackUp(id)
        } else {
            ProbeAnswer::Answered
        }
    }
}

/// What a STUN message meant to the health probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeAnswer {
    /// It answers no outstanding probe (or came from another address than the probed one).
    NotAProbe,
    /// It answers a probe of a combination that is up.
    Answered,
    /// It answers a probe of a combination marked down: it is up again.
    CameBackUp(EndpointId),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::config::Password;
    use crate::turn::TurnEndpoint;

    fn addr(index: usize) -> SocketAddr {
        ["127.0.0.2:3478", "127.0.0.3:3478"][index].parse().unwrap()
    }

    fn table() -> TurnServerTable {
        TurnServerTable::new(
            ["127.0.0.2:3478", "127.0.0.3:3478"]
                .iter()
                .enumerate()
                .map(|(server, address)| TurnEndpoint {
                    server,
                    address: address.parse().unwrap(),
                    description: String::new(),
                    username: "u".to_owned(),
                    password: Password::new("p"),
                })
                .collect(),
        )
    }

    #[test]
    fn a_server_missing_n_probes_goes_down_and_comes_back_when_it_answers() {
        let mut table = table();
        let policy = HealthPolicy {
            interval: Duration::from_secs(1),
            failures_before_down: 2,
        };
        let mut probes = HealthProbes::new(policy, &table);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let answer = |bytes: &[u8]| {
            let request = Message::decode(bytes).unwrap();
            Message::response(&request, Class::Success)
        };
        // Round 1: both probed; only the first answers.
        let work = probes.tick(&table, &mut rng);
        assert_eq!(work.requests.len(), 2);
        assert!(work.changes.is_empty());
        let reply = answer(&work.requests[0].1);
        assert_eq!(
            probes.handle_response(addr(0), &reply, &table),
            ProbeAnswer::Answered
        );
        assert_eq!(
            probes.handle_response(addr(0), &reply, &table),
            ProbeAnswer::NotAProbe,
            "answered once"
        );
        // Round 2: the second missed one probe; round 3: two, so it goes down.
        let work = probes.tick(&table, &mut rng);
        assert!(work.changes.is_empty());
        probes.handle_response(addr(0), &answer(&work.requests[0].1), &table);
        let work = probes.tick(&table, &mut rng);
        assert_eq!(work.changes, vec![(EndpointId(1), Health::Down)]);
        table.set_health(EndpointId(1), Health::Down);
        // It answers again: up.
        let reply = answer(&work.requests[1].1);
        assert_eq!(
            probes.handle_response(addr(0), &reply, &table),
            ProbeAnswer::NotAProbe,
            "from the wrong address"
        );
        assert_eq!(
            probes.handle_response(addr(1), &reply, &table),
            ProbeAnswer::CameBackUp(EndpointId(1))
        );
    }
}
