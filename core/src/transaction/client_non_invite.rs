//! The non-INVITE client transaction (RFC 3261 §17.1.2).

use super::{Effect, Timer, Transaction, TuNews, TxState};
use crate::sip::StatusCode;

pub(super) fn start(tx: &Transaction) -> Vec<Effect> {
    let mut effects = vec![Effect::Arm(Timer::F, tx.timing.t1x64())];
    if tx.retransmits() {
        effects.push(Effect::Arm(Timer::E, tx.interval));
    }
    effects
}

pub(super) fn on_response(tx: &mut Transaction, status: StatusCode) -> Vec<Effect> {
    match tx.state {
        TxState::Trying | TxState::Proceeding if status.is_provisional() => {
            tx.state = TxState::Proceeding;
            vec![Effect::Tell(TuNews::Response)]
        }
        TxState::Trying | TxState::Proceeding => {
            tx.state = TxState::Completed;
            vec![
                Effect::Disarm(Timer::E),
                Effect::Disarm(Timer::F),
                Effect::Arm(Timer::K, tx.timer_k()),
                Effect::Tell(TuNews::Response),
            ]
        }
        _ => Vec::new(),
    }
}

pub(super) fn on_timer(tx: &mut Transaction, timer: Timer) -> Vec<Effect> {
    match (tx.state, timer) {
        (TxState::Trying, Timer::E) => {
            tx.interval = (tx.interval * 2).min(tx.timing.t2);
            vec![Effect::SendLast, Effect::Arm(Timer::E, tx.interval)]
        }
        (TxState::Proceeding, Timer::E) => {
            vec![Effect::SendLast, Effect::Arm(Timer::E, tx.timing.t2)]
        }
        (TxState::Trying | TxState::Proceeding, Timer::F) => {
            tx.state = TxState::Terminated;
            vec![
                Effect::Disarm(Timer::E),
                Effect::Tell(TuNews::Timeout),
                Effect::Terminate,
            ]
        }
        (TxState::Completed, Timer::K) => {
            tx.state = TxState::Terminated;
            vec![Effect::Terminate]
        }
        _ => Vec::new(),
    }
}
