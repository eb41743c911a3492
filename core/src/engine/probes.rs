//! Health probes of the TURN servers: a STUN Binding to every address/port combination each
//! interval; one that misses enough in a row is marked down (left out of the selection) until
//! it answers again.

use crate::Receive;
use crate::event::{DropReason, Event};
use crate::hop::Hop;
use crate::turn::stun::Message;
use crate::turn::{EndpointId, Health, ProbeAnswer};

use super::{B2bua, TimerKey};

impl B2bua {
    /// A STUN datagram on a listener: an answer to a health probe, or stray.
    pub(crate) fn on_probe_answer(&mut self, receive: &Receive<'_>) {
        let answer = match (&mut self.probes, Message::decode(receive.contents)) {
            (Some(probes), Ok(message)) => {
                probes.handle_response(receive.source, &message, &self.turn_servers)
            }
            _ => ProbeAnswer::NotAProbe,
        };
        match answer {
            ProbeAnswer::NotAProbe => self.emit(Event::Dropped {
                source: receive.source,
                reason: DropReason::StrayStun,
            }),
            ProbeAnswer::Answered => self.counters.turn_probes_answered += 1,
            ProbeAnswer::CameBackUp(endpoint) => {
                self.counters.turn_probes_answered += 1;
                self.set_turn_health(endpoint, Health::Up);
            }
        }
    }

    /// A health probing round.
    pub(crate) fn on_probe_timer(&mut self) {
        let probes = self
            .probes
            .as_mut()
            .expect("the probe timer is set only when probing is on");
        let interval = probes.policy().interval;
        let work = probes.tick(&self.turn_servers, &mut self.rng);
        for (endpoint, health) in work.changes {
            self.set_turn_health(endpoint, health);
        }
        let local = self.config.listeners()[0].address;
        for (destination, bytes) in work.requests {
            self.counters.turn_probes_sent += 1;
            self.transmit(&Hop::udp(local, destination), bytes);
        }
        self.timers.set(TimerKey::Probe, self.now + interval);
    }

    fn set_turn_health(&mut self, endpoint: EndpointId, health: Health) {
        self.turn_servers.set_health(endpoint, health);
        let address = self
            .turn_servers
            .endpoint(endpoint)
            .expect("probes name combinations of this table")
            .address;
        self.emit(Event::TurnHealth {
            endpoint,
            address,
            health,
        });
    }
}
