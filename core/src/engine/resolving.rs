//! New INVITEs waiting for DNS: a route whose destinations are host names parks the INVITE
//! (its server transaction keeps answering retransmissions with 100 Trying) until the host's
//! answers are in, then routes it again. A CANCEL meanwhile ends it with 487.

use super::timers::TimerKey;
use super::{B2bua, Owner};
use crate::dns::{DnsAnswer, DnsQuery, QUERY_TIMEOUT};
use crate::event::{Event, Refusal};
use crate::hop::Hop;
use crate::ids;
use crate::sip::{Parsed, ReplyTo, StatusCode};
use crate::status::Admission;
use crate::time::Instant;
use crate::transaction::TxId;

/// An INVITE whose route waits for DNS answers.
#[derive(Debug)]
pub(crate) struct ParkedInvite {
    pub(crate) arrival: Hop,
    pub(crate) tx: TxId,
    pub(crate) reply: ReplyTo,
    pub(crate) parsed: Parsed,
    /// When it arrived.
    pub(crate) since: Instant,
    /// How its caller was let in.
    pub(crate) admission: Admission,
}

/// How long an INVITE may wait for DNS in all (several lookups in a row, each up to
/// [`QUERY_TIMEOUT`]) before it is answered 503.
const PARK_LIMIT: std::time::Duration = std::time::Duration::from_secs(12);

impl B2bua {
    /// Sends the resolver's queries to the host, each with its deadline.
    pub(crate) fn ask(&mut self, queries: Vec<DnsQuery>) {
        for query in queries {
            self.timers
                .set(TimerKey::Resolve(query.id), self.now + QUERY_TIMEOUT);
            self.emit(Event::Resolve(query));
        }
    }

    /// The host's answer to a query: cached, and the INVITEs waiting routed again.
    pub(crate) fn on_resolved(&mut self, answer: DnsAnswer) {
        let id = answer.id;
        if self.resolver.answer(answer, self.now) {
            self.timers.cancel(TimerKey::Resolve(id));
            self.route_parked();
            self.settle_names();
            self.ping_resolved_names();
            self.refresh_lync_addresses();
        }
    }

    /// A query went unanswered too long: it counts as failed.
    pub(crate) fn on_resolve_timeout(&mut self, id: u64) {
        if self.resolver.give_up(id, self.now) {
            self.route_parked();
            self.settle_names();
            self.ping_resolved_names();
            self.refresh_lync_addresses();
        }
    }

    fn route_parked(&mut self) {
        for invite in std::mem::take(&mut self.parked) {
            let open = self
                .txs
                .get(&invite.tx)
                .is_some_and(|entry| entry.tx.can_respond());
            if !open {
                continue;
            }
            if self.now.saturating_since(invite.since) >= PARK_LIMIT {
                self.refuse_parked(invite, "No Destination Available", Refusal::NoDestination);
                continue;
            }
            self.route_invite(invite);
        }
    }

    /// Answers every parked INVITE 503 (shutting down).
    pub(crate) fn refuse_all_parked(&mut self) {
        for invite in std::mem::take(&mut self.parked) {
            self.refuse_parked(invite, "Shutting Down", Refusal::ShuttingDown);
        }
    }

    fn refuse_parked(&mut self, invite: ParkedInvite, reason: &str, refusal: Refusal) {
        let source = invite.arrival.peer;
        self.refuse_unavailable(invite.tx, &invite.reply, source, reason, 5, refusal);
    }

    /// A CANCEL for a parked INVITE: 200 to it, 487 to the INVITE. Whether one was parked.
    pub(crate) fn cancel_parked(
        &mut self,
        cancel_tx: TxId,
        cancel_reply: &ReplyTo,
        invite: TxId,
    ) -> bool {
        let Some(index) = self.parked.iter().position(|p| p.tx == invite) else {
            return false;
        };
        let parked = self.parked.remove(index);
        let tag = ids::tag(&mut self.rng);
        let ok = cancel_reply.response(StatusCode::OK, "OK", Some(&tag));
        self.respond(cancel_tx, &ok);
        let status = StatusCode::REQUEST_TERMINATED;
        let terminated = parked.reply.response(status, status.reason(), Some(&tag));
        self.set_owner(parked.tx, Owner::Engine);
        self.respond(parked.tx, &terminated);
        true
    }
}
