//! Reliable provisional responses (RFC 3262), hop by hop on each leg. On leg B TwoLeg offers
//! `100rel` and PRACKs every reliable provisional the callee sends (each RSeq once). On leg A
//! it sends the provisionals it relays reliably when the caller supports or requires `100rel`:
//! `Require: 100rel` and an RSeq of leg A's own, retransmitted from T1, doubling, until the
//! caller's PRACK (answered by TwoLeg); one at a time, later ones queued when the caller
//! requires the option (sent plainly when it only supports it). A 2xx waits for the PRACK of a
//! reliable provisional that carried SDP (RFC 3262 §3). No PRACK in 64·T1: the call is
//! refused with 500 and leg B cancelled.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;

use super::{Call, CallId, Ending, RelayId};
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::hop::Hop;
use crate::sip::{HeaderName, Headers, Method, Parsed, ReplyTo, Response, StatusCode};
use crate::status::{EndedBy, Outcome, Side};
use crate::time::Instant;
use crate::transaction::TxId;

/// The option tag.
const TAG: &str = "100rel";

/// What the caller said of `100rel`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Reliability {
    /// Nothing: provisionals go plainly.
    #[default]
    No,
    /// Supported: reliable when TwoLeg can (one at a time).
    Supported,
    /// Required: every provisional but 100 reliable.
    Required,
}

/// Leg A's reliable provisionals.
#[derive(Debug, Default)]
pub(crate) struct ReliableSender {
    pub(crate) mode: Reliability,
    /// The last RSeq sent.
    rseq: u32,
    /// The one awaiting its PRACK.
    outstanding: Option<Outstanding>,
    /// Provisionals waiting for it (the caller requires 100rel).
    queued: VecDeque<Response>,
    /// A 2xx waiting for the PRACK of a provisional with SDP.
    pub(crate) held_2xx: Option<(RelayId, Box<Parsed>)>,
}

#[derive(Debug)]
struct Outstanding {
    rseq: u32,
    cseq: u32,
    bytes: Vec<u8>,
    hop: Hop,
    interval: Duration,
    first_sent: Instant,
    has_sdp: bool,
}

impl ReliableSender {
    /// Whether a 2xx must wait (a reliable provisional with SDP is not yet PRACKed).
    pub(crate) fn holds_2xx(&self) -> bool {
        self.outstanding.as_ref().is_some_and(|o| o.has_sdp)
    }
}

/// What a message says of `100rel`.
pub(crate) fn reliability(headers: &Headers) -> Reliability {
    let names = |name: &HeaderName| {
        headers
            .get_all(name)
            .flat_map(|value| value.split(','))
            .any(|option| option.trim().eq_ignore_ascii_case(TAG))
    };
    if names(&HeaderName::REQUIRE) {
        Reliability::Required
    } else if names(&HeaderName::SUPPORTED) {
        Reliability::Supported
    } else {
        Reliability::No
    }
}

/// The RSeq of a reliable provisional (`Require: 100rel` with an RSeq), if it is one.
pub(crate) fn rseq_of(headers: &Headers) -> Option<u32> {
    if reliability(headers) != Reliability::Required {
        return None;
    }
    headers.get(&HeaderName::RSEQ)?.trim().parse().ok()
}

/// An RAck value: RSeq, CSeq number, method.
fn rack_of(headers: &Headers) -> Option<(u32, u32, String)> {
    let mut parts = headers.get(&HeaderName::RACK)?.split_ascii_whitespace();
    let rseq = parts.next()?.parse().ok()?;
    let cseq = parts.next()?.parse().ok()?;
    Some((rseq, cseq, parts.next()?.to_owned()))
}

impl B2bua {
    /// A reliable provisional from the callee fork `tag` on leg B: PRACKed once per RSeq of
    /// that fork (each fork counts its own). Returns false for one already seen (a
    /// retransmission: neither PRACKed again nor relayed).
    pub(crate) fn prack_callee(
        &mut self,
        call: &mut Call,
        parsed: &Parsed,
        tag: &str,
        rseq: u32,
    ) -> bool {
        let leg = call.leg(Side::B);
        let last = leg.peer_rseqs.iter().find(|(fork, _)| fork == tag);
        if last.is_some_and(|(_, last)| rseq <= *last) {
            return false;
        }
        let max_forwards = self.config.max_forwards();
        let hop = self.leg_hop(call, Side::B);
        let leg = call.leg_mut(Side::B);
        leg.peer_rseqs.retain(|(fork, _)| fork != tag);
        leg.peer_rseqs.push((tag.to_owned(), rseq));
        let mut prack = leg
            .dialog
            .request(Method::PRACK, None, &hop, max_forwards, &mut self.rng);
        prack.headers.push(
            HeaderName::RACK,
            format!("{rseq} {} INVITE", parsed.cseq.number),
        );
        let large_over = leg.large_over;
        let _ = self.send_fitting(Owner::Engine, &mut prack, hop, large_over);
        true
    }

    /// Sends a provisional to the caller on leg A through the INVITE's server transaction,
    /// reliably when the caller takes `100rel`.
    pub(crate) fn send_provisional(&mut self, call: &mut Call, server_tx: TxId, mut out: Response) {
        let id = call.id;
        let sender = &mut call.leg_mut(Side::A).reliable;
        if sender.mode == Reliability::No || out.status == StatusCode::TRYING {
            self.respond(server_tx, &out);
            return;
        }
        if sender.outstanding.is_some() {
            if sender.mode == Reliability::Required {
                sender.queued.push_back(out);
            } else {
                self.respond(server_tx, &out);
            }
            return;
        }
        if sender.rseq == 0 {
            // RFC 3262 §3: the first RSeq is random, 1 to 2^31 - 1.
            sender.rseq = self.rng.random_range(1..=(1 << 30));
        }
        sender.rseq += 1;
        let rseq = sender.rseq;
        out.headers.push(HeaderName::REQUIRE, TAG);
        out.headers.push(HeaderName::RSEQ, rseq.to_string());
        let cseq = out
            .headers
            .get(&HeaderName::CSEQ)
            .and_then(|value| value.split_ascii_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let has_sdp = !out.body.is_empty();
        let bytes = out.to_bytes();
        self.respond(server_tx, &out);
        let hop = self
            .txs
            .get(&server_tx)
            .map_or_else(|| call.leg(Side::A).hop, |entry| entry.tx.hop);
        call.leg_mut(Side::A).reliable.outstanding = Some(Outstanding {
            rseq,
            cseq,
            bytes,
            hop,
            interval: self.timing.t1,
            first_sent: self.now,
            has_sdp,
        });
        self.set_call_timer(id, CallTimer::Retransmit1xx, self.timing.t1);
    }

    /// Time to send the outstanding reliable provisional again, or (64·T1 without a PRACK) to
    /// give up on the call.
    pub(crate) fn on_retransmit_1xx(&mut self, call: &mut Call) {
        let id = call.id;
        let give_up = self.timing.t1x64();
        let Some(outstanding) = call.leg_mut(Side::A).reliable.outstanding.as_mut() else {
            return;
        };
        let elapsed = self.now.saturating_since(outstanding.first_sent);
        if elapsed >= give_up {
            call.leg_mut(Side::A).reliable.outstanding = None;
            if let Some(initial) = call.initial_relay() {
                let ending = Ending::new(
                    StatusCode::SERVER_INTERNAL_ERROR,
                    Outcome::TimedOut,
                    EndedBy::B2bua,
                    "no PRACK for a reliable provisional response",
                );
                self.cancel_relay_in(call, initial, ending);
            }
            return;
        }
        outstanding.interval *= 2;
        let (hop, bytes, interval) = (
            outstanding.hop,
            outstanding.bytes.clone(),
            outstanding.interval,
        );
        self.retransmit(&hop, bytes);
        // The last wait ends at 64·T1 exactly.
        let wait = interval.min(give_up - elapsed);
        self.set_call_timer(id, CallTimer::Retransmit1xx, wait);
    }

    /// A PRACK from the caller: 200 when it acknowledges the outstanding reliable provisional
    /// (then the next queued one goes, or the held 2xx), 481 otherwise (RFC 3262 §3).
    pub(crate) fn on_prack(
        &mut self,
        call: &mut Call,
        side: Side,
        tx: TxId,
        reply: &ReplyTo,
        parsed: &Parsed,
    ) {
        let id = call.id;
        let rack = rack_of(parsed.message.headers());
        let sender = &mut call.leg_mut(side).reliable;
        let matches = side == Side::A
            && sender.outstanding.as_ref().is_some_and(|o| {
                rack.as_ref().is_some_and(|(rseq, cseq, method)| {
                    *rseq == o.rseq && *cseq == o.cseq && method == "INVITE"
                })
            });
        if !matches {
            let status = StatusCode::CALL_DOES_NOT_EXIST;
            self.respond(tx, &reply.response(status, status.reason(), None));
            return;
        }
        sender.outstanding = None;
        self.cancel_call_timer(id, CallTimer::Retransmit1xx);
        self.respond(tx, &reply.response(StatusCode::OK, "OK", None));
        let next = call.leg_mut(Side::A).reliable.queued.pop_front();
        let server_tx = call
            .initial_relay()
            .and_then(|relay| call.relays.get(&relay))
            .map(|relay| relay.server_tx);
        if let (Some(next), Some(server_tx)) = (next, server_tx) {
            self.send_provisional(call, server_tx, next);
        }
        if !call.leg(Side::A).reliable.holds_2xx()
            && let Some((relay, held)) = call.leg_mut(Side::A).reliable.held_2xx.take()
        {
            self.on_relay_response_in(call, relay, &held);
        }
    }

    /// The call's 2xx is relayed now; no provisional of its INVITE is retransmitted after it.
    pub(crate) fn end_provisionals(&mut self, id: CallId, call: &mut Call) {
        let sender = &mut call.leg_mut(Side::A).reliable;
        sender.outstanding = None;
        sender.queued.clear();
        self.cancel_call_timer(id, CallTimer::Retransmit1xx);
    }
}
