//! ACKs of 2xx responses: the ones TwoLeg receives (with a late offer's answer), the ones it
//! sends, and 2xx responses that arrive after their relay is done (retransmissions, forks).

use std::net::SocketAddr;

use super::{AckBody, Call, SentAck, learn_dialog};
use crate::dialog::Dialog;
use crate::engine::anchor::{SdpRole, is_sdp};
use crate::engine::pass_through::copy_payload;
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::event::{DropReason, Event};
use crate::hop::{Hop, contact_uri};
use crate::media::PolicyViolation;
use crate::sip::HeaderName;
use crate::sip::{Method, Parsed};
use crate::status::Side;
use crate::transaction::DialogKey;

impl B2bua {
    /// An ACK with a To tag: the ACK of a 2xx TwoLeg sent on that leg.
    pub(crate) fn on_dialog_ack(&mut self, source: SocketAddr, parsed: Parsed) {
        let key = DialogKey::new(&parsed.call_id, parsed.to.tag().unwrap_or_default());
        let Some(&(id, side)) = self.dialogs.get(&key) else {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::StrayAck,
            });
            return;
        };
        self.with_call(id, |this, call| {
            let leg = call.leg_mut(side);
            let Some(awaiting) = leg.awaiting_ack.take_if(|a| a.cseq == parsed.cseq.number) else {
                // A retransmitted ACK: absorbed.
                return;
            };
            this.cancel_call_timer(id, CallTimer::Retransmit2xx(side));
            this.cancel_call_timer(id, CallTimer::AckTimeout(side));
            this.learn_lync_peers(call, side, parsed.message.body());
            if let Some(held) = awaiting.held_ack
                && let Some(violation) = this.send_ack(
                    call,
                    held.side,
                    held.cseq,
                    AckBody::AnswerOf(&parsed, &held.offer),
                )
            {
                this.end_for_media_policy(call, &violation);
                return;
            }
            if call.leg(side).bye_held {
                this.send_bye(call, side, None);
            }
        });
    }

    /// Sends the ACK for a 2xx on a leg (RFC 3261 §13.2.2.4), with `body`. When the call's
    /// media is anchored and the other leg's answer breaks the policy, the ACK declines the
    /// offer instead and the violation is returned: the caller ends the call.
    pub(crate) fn send_ack(
        &mut self,
        call: &mut Call,
        side: Side,
        cseq: u32,
        body: AckBody<'_>,
    ) -> Option<PolicyViolation> {
        let mut violation = None;
        let max_forwards = self.config.max_forwards();
        let hop = self.leg_hop(call, side);
        let leg = call.leg_mut(side);
        let mut ack =
            leg.dialog
                .request(Method::ACK, Some(cseq), &hop, max_forwards, &mut self.rng);
        if let AckBody::Decline(offer) = body {
            decline_into(&mut ack, offer);
        }
        if let AckBody::AnswerOf(answer, offer) = body {
            copy_payload(
                answer.message.headers(),
                answer.message.body(),
                &mut ack.headers,
                &mut ack.body,
                &call.headers,
            );
            if is_sdp(&ack.headers, &ack.body)
                && let Some(anchor) = call.anchor.as_mut()
            {
                match self.anchor_body(&call.tag, anchor, side.other(), SdpRole::Answer, &ack.body)
                {
                    Ok(body) => ack.body = body,
                    Err(failed) => {
                        decline_into(&mut ack, offer);
                        violation = Some(failed);
                    }
                }
            }
        }
        call.offer_candidates(side, &mut ack.body);
        let leg = call.leg_mut(side);
        let bytes = ack.to_bytes();
        leg.last_ack = Some(SentAck {
            cseq,
            bytes: bytes.clone(),
            hop,
        });
        self.transmit(&hop, bytes);
        violation
    }

    /// A 2xx for an INVITE whose relay is done: re-send the ACK for a retransmission of the
    /// answered dialog; ACK and hang up any other fork.
    pub(crate) fn on_late_2xx(&mut self, call: &mut Call, parsed: &Parsed) {
        let side = call
            .legs
            .iter()
            .find(|leg| leg.dialog.call_id == parsed.call_id)
            .map(|leg| leg.side);
        let Some(side) = side else {
            return;
        };
        let leg = call.leg_mut(side);
        if parsed.to.tag() == leg.dialog.remote_tag.as_deref() {
            if let Some(ack) = &leg.last_ack
                && ack.cseq == parsed.cseq.number
            {
                let (hop, bytes) = (ack.hop, ack.bytes.clone());
                self.retransmit(&hop, bytes);
            }
            return;
        }
        let tag = parsed.to.tag().unwrap_or_default();
        if let Some(ended) = call.ended_forks.iter().find(|f| f.remote_tag == tag) {
            // Its 2xx again: the same ACK, no second BYE.
            let (hop, bytes) = (ended.hop, ended.ack.clone());
            self.retransmit(&hop, bytes);
            return;
        }
        // Another fork answered: ACK it and hang it up (RFC 3261 §13.2.2.4), once.
        let leg = call.leg(side);
        let mut fork = leg.dialog.clone();
        learn_dialog(&mut fork, parsed, true);
        let leg_hop = leg.hop;
        let (hop, ack) = self.ack_and_bye(fork, leg_hop, parsed.cseq.number);
        call.ended_forks.push(super::EndedFork {
            remote_tag: tag.to_owned(),
            ack,
            hop,
        });
    }

    /// ACKs a 2xx to an INVITE of a call that is over, then hangs up the dialog it made, from
    /// the response alone.
    pub(crate) fn ack_and_bye_orphan(&mut self, hop: Hop, parsed: &Parsed) {
        let without_tag = |party: &crate::sip::NameAddr| {
            let mut party = party.clone();
            party.params.retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
            party
        };
        let mut dialog = Dialog {
            call_id: parsed.call_id.clone(),
            local_tag: parsed.from.tag().unwrap_or_default().to_owned(),
            remote_tag: parsed.to.tag().map(str::to_owned),
            local_party: without_tag(&parsed.from),
            remote_party: without_tag(&parsed.to),
            local_cseq: parsed.cseq.number,
            remote_cseq: None,
            route_set: Vec::new(),
            remote_target: parsed.to.uri.clone(),
            contact: contact_uri(hop.transport, hop.local),
        };
        learn_dialog(&mut dialog, parsed, true);
        let _ = self.ack_and_bye(dialog, hop, parsed.cseq.number);
    }

    /// ACKs a 2xx that made `dialog`, then hangs it up with BYE; returns where the ACK went
    /// and its bytes.
    fn ack_and_bye(&mut self, mut dialog: Dialog, fallback: Hop, cseq: u32) -> (Hop, Vec<u8>) {
        let max_forwards = self.config.max_forwards();
        let hop = self.dialog_hop(&dialog, &fallback);
        let ack = dialog
            .request(Method::ACK, Some(cseq), &hop, max_forwards, &mut self.rng)
            .to_bytes();
        self.transmit(&hop, ack.clone());
        let bye = dialog.request(Method::BYE, None, &hop, max_forwards, &mut self.rng);
        self.send_request(Owner::Engine, &bye, hop);
        (hop, ack)
    }
}

/// Replaces an ACK's body with an answer declining every stream of `offer` (nothing when the
/// offer is not SDP).
fn decline_into(ack: &mut crate::sip::Request, offer: &[u8]) {
    ack.body.clear();
    ack.headers.remove(&HeaderName::CONTENT_TYPE);
    if let Some(declined) = crate::media::rewrite::decline_all(offer) {
        ack.headers
            .push(HeaderName::CONTENT_TYPE, "application/sdp");
        ack.body = declined;
    }
}
