//! The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).

use super::{Effect, Timer, Transaction, TxState};
use crate::sip::StatusCode;

pub(super) fn on_retransmission(tx: &mut Transaction) -> Vec<Effect> {
    match tx.state {
        // Re-send the last provisional (the 100 Trying at least) or the non-2xx final.
        TxState::Proceeding | TxState::Completed if !tx.last.is_empty() => vec![Effect::SendLast],
        // Accepted: the TU retransmits the 2xx itself; the INVITE is absorbed.
        _ => Vec::new(),
    }
}

pub(super) fn on_respond(tx: &mut Transaction, status: StatusCode, bytes: Vec<u8>) -> Vec<Effect> {
    if tx.state != TxState::Proceeding {
        return Vec::new();
    }
    tx.last = bytes;
    if status.is_provisional() {
        return vec![Effect::SendLast];
    }
    if status.is_success() {
        tx.state = TxState::Accepted;
        return vec![Effect::SendLast, Effect::Arm(Timer::L, tx.timing.t1x64())];
    }
    tx.state = TxState::Completed;
    let mut effects = vec![Effect::SendLast, Effect::Arm(Timer::H, tx.timing.t1x64())];
    if tx.retransmits() {
        effects.push(Effect::Arm(Timer::G, tx.interval));
    }
    effects
}

pub(super) fn on_ack(tx: &mut Transaction) -> Vec<Effect> {
    if tx.state != TxState::Completed {
        return Vec::new();
    }
    tx.state = TxState::Confirmed;
    vec![
        Effect::Disarm(Timer::G),
        Effect::Disarm(Timer::H),
        Effect::Arm(Timer::I, tx.timer_i()),
    ]
}

pub(super) fn on_timer(tx: &mut Transaction, timer: Timer) -> Vec<Effect> {
    match (tx.state, timer) {
        (TxState::Completed, Timer::G) => {
            tx.interval = (tx.interval * 2).min(tx.timing.t2);
            vec![Effect::SendLast, Effect::Arm(Timer::G, tx.interval)]
        }
        (TxState::Completed, Timer::H) => {
            tx.state = TxState::Terminated;
            vec![Effect::Disarm(Timer::G), Effect::Terminate]
        }
        (TxState::Confirmed, Timer::I) | (TxState::Accepted, Timer::L) => {
            tx.state = TxState::Terminated;
            vec![Effect::Terminate]
        }
        _ => Vec::new(),
    }
}
