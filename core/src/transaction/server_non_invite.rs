//! The non-INVITE server transaction (RFC 3261 §17.2.2).

use super::{Effect, Timer, Transaction, TxState};
use crate::sip::StatusCode;

pub(super) fn on_retransmission(tx: &mut Transaction) -> Vec<Effect> {
    match tx.state {
        TxState::Proceeding | TxState::Completed if !tx.last.is_empty() => vec![Effect::SendLast],
        _ => Vec::new(),
    }
}

pub(super) fn on_respond(tx: &mut Transaction, status: StatusCode, bytes: Vec<u8>) -> Vec<Effect> {
    if !matches!(tx.state, TxState::Trying | TxState::Proceeding) {
        return Vec::new();
    }
    tx.last = bytes;
    if status.is_provisional() {
        tx.state = TxState::Proceeding;
        return vec![Effect::SendLast];
    }
    tx.state = TxState::Completed;
    vec![Effect::SendLast, Effect::Arm(Timer::J, tx.timer_j())]
}

pub(super) fn on_timer(tx: &mut Transaction, timer: Timer) -> Vec<Effect> {
    match (tx.state, timer) {
        (TxState::Completed, Timer::J) => {
            tx.state = TxState::Terminated;
            vec![Effect::Terminate]
        }
        _ => Vec::new(),
    }
}
