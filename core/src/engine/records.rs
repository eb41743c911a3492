//! A call whose legs are both over leaves the table for call history.

use super::B2bua;
use super::call::CallId;
use super::timers::CallTimer;
use crate::event::Event;
use crate::sip::StatusCode;
use crate::status::Side;
use crate::transaction::{DialogKey, TxState};

impl B2bua {
    /// Moves a finished call to history.
    pub(crate) fn finish_if_over(&mut self, id: CallId) {
        if !self.calls.get(&id).is_some_and(|call| call.is_over()) {
            return;
        }
        let mut call = self.calls.remove(&id).expect("looked up just above");
        self.call_tags.remove(&call.tag);
        if let Some(load) = self.route_load.get_mut(call.route_index) {
            load.live = load.live.saturating_sub(1);
        }
        if let Some(load) = self.listener_load.get_mut(call.listener_index) {
            load.live = load.live.saturating_sub(1);
        }
        self.end_turn(&mut call);
        // Requests still being relayed get a final response; an INVITE client transaction that
        // got a provisional has no timer left, so it is forgotten.
        for relay in call.relays.values() {
            let tag = call.leg(relay.server_side).dialog.local_tag.clone();
            self.terminate_server_side(relay, StatusCode::REQUEST_TERMINATED, &tag);
            if self.tx_state(relay.client_tx) == Some(TxState::Proceeding) {
                self.forget_tx(relay.client_tx);
            }
        }
        for leg in &call.legs {
            self.dialogs.remove(&leg.dialog.key());
        }
        let a_call_id = &call.leg(Side::A).dialog.call_id;
        for fork in &call.forks {
            self.dialogs.remove(&DialogKey::new(a_call_id, &fork.a_tag));
        }
        for timer in CallTimer::PER_CALL {
            self.cancel_call_timer(id, timer);
        }
        for relay in call.relays.keys() {
            self.cancel_call_timer(id, CallTimer::CancelTimeout(*relay));
            self.cancel_call_timer(id, CallTimer::RelayNoAnswer(*relay));
            self.cancel_call_timer(id, CallTimer::Failover(*relay));
        }
        // Transactions still running for the call (a BYE's, a CANCEL's) finish on their own;
        // their owner names a call that is gone, which every handler treats as "nothing to do".
        let ending = call
            .ending
            .take()
            .expect("a call's legs end only after the reason is recorded");
        let record = call.status().end(
            self.now,
            ending.final_status.code(),
            ending.outcome,
            ending.ended_by,
            ending.reason,
        );
        if let Some(anchor) = call.anchor.take() {
            self.close_anchor(&call.tag, &anchor);
        }
        self.history.push(record.clone());
        self.emit(Event::CallEnded(Box::new(record)));
    }
}
