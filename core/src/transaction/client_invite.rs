//! The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4).

use super::{Effect, Timer, Transaction, TuNews, TxState};
use crate::sip::StatusCode;

pub(super) fn start(tx: &Transaction) -> Vec<Effect> {
    let mut effects = vec![Effect::Arm(Timer::B, tx.timing.t1x64())];
    if tx.retransmits() {
        effects.push(Effect::Arm(Timer::A, tx.interval));
    }
    effects
}

pub(super) fn on_response(tx: &mut Transaction, status: StatusCode) -> Vec<Effect> {
    match (tx.state, status.is_provisional(), status.is_success()) {
        (TxState::Calling | TxState::Proceeding, true, _) => {
            tx.state = TxState::Proceeding;
            vec![
                Effect::Disarm(Timer::A),
                Effect::Disarm(Timer::B),
                Effect::Tell(TuNews::Response),
            ]
        }
        (TxState::Calling | TxState::Proceeding, false, true) => {
            tx.state = TxState::Accepted;
            vec![
                Effect::Disarm(Timer::A),
                Effect::Disarm(Timer::B),
                Effect::Arm(Timer::M, tx.timing.t1x64()),
                Effect::Tell(TuNews::Response),
            ]
        }
        (TxState::Calling | TxState::Proceeding, false, false) => {
            tx.state = TxState::Completed;
            vec![
                Effect::Disarm(Timer::A),
                Effect::Disarm(Timer::B),
                Effect::SendAck,
                Effect::Arm(Timer::D, tx.timer_d()),
                Effect::Tell(TuNews::Response),
            ]
        }
        // Retransmitted or forked 2xx: the TU ACKs each one.
        (TxState::Accepted, false, true) => vec![Effect::Tell(TuNews::Response)],
        // Retransmitted non-2xx final: ACK it again, the TU has heard.
        (TxState::Completed, false, false) => vec![Effect::SendAck],
        _ => Vec::new(),
    }
}

pub(super) fn on_timer(tx: &mut Transaction, timer: Timer) -> Vec<Effect> {
    match (tx.state, timer) {
        (TxState::Calling, Timer::A) => {
            tx.interval *= 2;
            vec![Effect::SendLast, Effect::Arm(Timer::A, tx.interval)]
        }
        (TxState::Calling, Timer::B) => {
            tx.state = TxState::Terminated;
            vec![
                Effect::Disarm(Timer::A),
                Effect::Tell(TuNews::Timeout),
                Effect::Terminate,
            ]
        }
        (TxState::Completed, Timer::D) | (TxState::Accepted, Timer::M) => {
            tx.state = TxState::Terminated;
            vec![Effect::Terminate]
        }
        _ => Vec::new(),
    }
}
