//! The B2BUA engine: the sans-IO state machine every host drives.

mod bridge;
mod call;
mod receive;
mod relays;
pub(crate) mod reply;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use self::call::{Call, CallId, RelayId};
use self::relays::{AllocId, Allocation, MediaPorts};
use crate::config::ValidConfig;
use crate::event::Event;
use crate::scheduler::Scheduler;
use crate::sip::{Method, Request, Response};
use crate::status::{CallRecord, CallStatus, History, Side};
use crate::time::Instant;
use crate::transaction::{Effect, Role, Timer, Timing, Transaction, TuNews, TxId, TxState};
use crate::turn::{HealthProbes, TurnServerTable};
use crate::{Input, Output, Transmit};

/// Methods TwoLeg accepts (the `Allow` header of its 405 and OPTIONS answers).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

/// A misuse of the engine by its host (never caused by network input).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An input carried a time earlier than one before it.
    #[error("time went backwards: {now} is before {last}")]
    TimeWentBackwards {
        /// The time of this input.
        now: Instant,
        /// The latest time seen before.
        last: Instant,
    },
    /// No live call has this tag.
    #[error("no live call has tag {0}")]
    UnknownCall(String),
}

/// Counters hosts export as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Datagrams handed in.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Messages sent again (transaction and 2xx retransmissions).
    pub retransmissions: u64,
    /// Datagrams that did not parse.
    pub parse_errors: u64,
    /// Calls started.
    pub calls_started: u64,
    /// TURN relays granted (two per call with relays: RTP and RTCP).
    pub turn_allocations: u64,
    /// Calls whose relay allocation failed on a server (each failed-over server counts).
    pub turn_failures: u64,
    /// Allocations alive now (allocating, granted or being deleted).
    pub turn_allocations_open: u64,
    /// TURN health probes sent.
    pub turn_probes_sent: u64,
    /// TURN health probes answered by the probed address.
    pub turn_probes_answered: u64,
}

/// What a transaction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Answered by the engine itself (OPTIONS, errors): nothing follows.
    Engine,
    /// A relayed request of a call (the server or the client side).
    Relay(CallId, RelayId),
    /// A BYE TwoLeg sent on a leg.
    Bye(CallId, Side),
    /// A CANCEL TwoLeg sent, or a request TwoLeg answers inside a call.
    Call(CallId),
}

#[derive(Debug)]
struct TxEntry {
    tx: Transaction,
    owner: Owner,
    key: TxKey,
    /// Its entry in the merged-request index, for an INVITE server transaction.
    merge_key: Option<(String, String, u32)>,
}

/// How a transaction is found again: RFC 3261 §17.1.3 (client) and §17.2.3 (server).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TxKey {
    Client {
        branch: String,
        method: String,
    },
    Server {
        branch: String,
        sent_by: String,
        method: String,
    },
}

/// Deadlines of calls (as opposed to transactions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// Retransmit the 2xx waiting for its ACK on this leg.
    Retransmit2xx(Side),
    /// Give up waiting for the ACK on this leg (64·T1).
    AckTimeout(Side),
    /// The callee rang too long.
    RingTimeout,
    /// A CANCEL went out for this relay 64·T1 ago and its INVITE got no final response.
    CancelTimeout(RelayId),
    /// A relayed re-INVITE got a provisional response but no final one in 64·T1 (the B2BUA's
    /// stand-in for a proxy's Timer C): it is cancelled.
    RelayNoAnswer(RelayId),
    /// The Lync leg's INVITE has waited for its TURN relays as long as configured.
    TurnGiveUp,
    /// Renew the call's TURN allocations and permissions.
    TurnRefresh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Tx(TxId, Timer),
    Call(CallId, CallTimer),
    /// A TURN allocation's retransmission deadline.
    Turn(AllocId),
    /// The next round of TURN health probes.
    Probe,
}

/// The B2BUA: feed it [`Input`]s, drain its [`Output`]s.
pub struct B2bua {
    config: ValidConfig,
    timing: Timing,
    rng: StdRng,
    now: Instant,
    outputs: VecDeque<Output>,
    timers: Scheduler<TimerKey>,
    txs: BTreeMap<TxId, TxEntry>,
    tx_index: BTreeMap<TxKey, TxId>,
    /// Open INVITE server transactions by (Call-ID, From tag, CSeq) for merged-request detection.
    merge_index: BTreeMap<(String, String, u32), TxId>,
    dialogs: BTreeMap<(String, String), (CallId, Side)>,
    calls: BTreeMap<CallId, Call>,
    history: History,
    turn_servers: TurnServerTable,
    allocations: BTreeMap<AllocId, Allocation>,
    alloc_by_local: BTreeMap<SocketAddr, AllocId>,
    media_ports: MediaPorts,
    probes: Option<HealthProbes>,
    next_id: u64,
    counters: Counters,
    /// Shutting down: new calls get 503 with Retry-After.
    draining: bool,
}

impl B2bua {
    /// An engine for this config, starting at `now`, drawing every random choice from `seed`.
    pub fn new(config: ValidConfig, now: Instant, seed: u64) -> Self {
        let timers = config.timers();
        let mut scheduler = Scheduler::new();
        let probes = config
            .turn_health()
            .filter(|_| !config.turn_servers().is_empty())
            .map(|policy| HealthProbes::new(policy, config.turn_servers()));
        if probes.is_some() {
            scheduler.set(TimerKey::Probe, now);
        }
        Self {
            timing: Timing {
                t1: timers.t1,
                t2: timers.t2,
                t4: timers.t4,
            },
            rng: StdRng::seed_from_u64(seed),
            now,
            outputs: VecDeque::new(),
            timers: scheduler,
            txs: BTreeMap::new(),
            tx_index: BTreeMap::new(),
            merge_index: BTreeMap::new(),
            dialogs: BTreeMap::new(),
            calls: BTreeMap::new(),
            history: History::new(config.history_max_calls()),
            turn_servers: config.turn_servers().clone(),
            allocations: BTreeMap::new(),
            alloc_by_local: BTreeMap::new(),
            media_ports: MediaPorts::new(config.lync().media_ports, seed),
            probes,
            next_id: 1,
            counters: Counters::default(),
            draining: false,
            config,
        }
    }

    /// Hands in a datagram or the passing of time. Drain [`B2bua::poll_output`] afterwards.
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), Error> {
        match input {
            Input::Receive(now, receive) => {
                self.advance(now)?;
                self.handle_receive(receive);
            }
            Input::Timeout(now) => {
                self.advance(now)?;
                self.handle_timeout();
            }
        }
        Ok(())
    }

    /// The next output; [`Output::Timeout`] when there is nothing else, carrying when to call
    /// [`B2bua::handle_input`] with [`Input::Timeout`] at the latest.
    pub fn poll_output(&mut self) -> Output {
        self.outputs
            .pop_front()
            .unwrap_or_else(|| Output::Timeout(self.timers.next().unwrap_or(Instant::NEVER)))
    }

    /// Ends a live call from outside (the admin API, the simulator): BYE on answered legs,
    /// CANCEL or a final response on unanswered ones.
    pub fn disconnect(&mut self, now: Instant, tag: &str) -> Result<(), Error> {
        self.advance(now)?;
        let id = self
            .calls
            .iter()
            .find(|(_, call)| call.tag == tag)
            .map(|(id, _)| *id)
            .ok_or_else(|| Error::UnknownCall(tag.to_owned()))?;
        self.disconnect_call(id);
        Ok(())
    }

    /// Stops taking new calls (they get 503 with Retry-After) and ends every live call, for a
    /// graceful shutdown.
    pub fn drain(&mut self, now: Instant) -> Result<(), Error> {
        self.advance(now)?;
        self.draining = true;
        let live: Vec<CallId> = self.calls.keys().copied().collect();
        for id in live {
            self.disconnect_call(id);
        }
        Ok(())
    }

    /// Live calls, both legs each, oldest first.
    pub fn calls(&self) -> impl Iterator<Item = CallStatus> + '_ {
        self.calls.values().map(Call::status)
    }

    /// How many calls are live.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Finished calls, oldest first, bounded by the config.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The config this engine runs.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Counters for metrics.
    pub fn counters(&self) -> Counters {
        Counters {
            turn_allocations_open: self.allocations.len() as u64,
            ..self.counters
        }
    }

    /// How many transactions and pending deadlines the engine holds (zero of each when idle
    /// long enough: nothing leaks).
    pub fn load(&self) -> (usize, usize) {
        (self.txs.len(), self.timers.len())
    }

    /// Whether nothing is left to do but periodic health probing: no call, no transaction, no
    /// allocation, no deadline other than the next probing round.
    pub fn is_idle(&self) -> bool {
        let periodic = usize::from(self.probes.is_some());
        self.calls.is_empty()
            && self.txs.is_empty()
            && self.allocations.is_empty()
            && self.timers.len() <= periodic
    }

    /// The B2BUA TURN server table (with health).
    pub fn turn_servers(&self) -> &TurnServerTable {
        &self.turn_servers
    }

    fn advance(&mut self, now: Instant) -> Result<(), Error> {
        if now < self.now {
            return Err(Error::TimeWentBackwards {
                now,
                last: self.now,
            });
        }
        self.now = now;
        Ok(())
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn transmit(&mut self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        self.counters.datagrams_out += 1;
        self.outputs.push_back(Output::Transmit(Transmit {
            source,
            destination,
            contents,
        }));
    }

    fn retransmit(&mut self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        self.counters.retransmissions += 1;
        let start_line = first_line(&contents);
        self.emit(Event::Retransmitted {
            destination,
            start_line,
        });
        self.transmit(source, destination, contents);
    }

    fn handle_timeout(&mut self) {
        while let Some(key) = self.timers.pop_due(self.now) {
            match key {
                TimerKey::Tx(id, timer) => {
                    let Some(entry) = self.txs.get_mut(&id) else {
                        continue;
                    };
                    let effects = entry.tx.on_timer(timer);
                    let news = self.apply(id, effects, true);
                    for (news, owner) in news {
                        self.on_tx_news(id, owner, news, None);
                    }
                }
                TimerKey::Call(call, timer) => self.on_call_timer(call, timer),
                TimerKey::Turn(alloc) => self.on_allocation_timer(alloc),
                TimerKey::Probe => self.on_probe_timer(),
            }
        }
    }

    // Transactions.

    /// Sends a request in a new client transaction.
    fn send_request(
        &mut self,
        owner: Owner,
        request: &Request,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> TxId {
        let role = if request.method == Method::INVITE {
            Role::InviteClient
        } else {
            Role::NonInviteClient
        };
        let branch = top_branch(request);
        let mut tx = Transaction::new(role, peer, local, self.timing);
        tx.last = request.to_bytes();
        let id = TxId(self.next_id());
        let key = TxKey::Client {
            branch,
            method: request.method.to_string(),
        };
        let effects = tx.start();
        self.transmit(local, peer, tx.last.clone());
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                tx,
                owner,
                key,
                merge_key: None,
            },
        );
        self.apply(id, effects, false);
        id
    }

    /// Opens a server transaction for a request that just arrived.
    fn open_server_tx(
        &mut self,
        owner: Owner,
        method: &Method,
        branch_key: (String, String),
        peer: SocketAddr,
        local: SocketAddr,
    ) -> TxId {
        let role = if *method == Method::INVITE {
            Role::InviteServer
        } else {
            Role::NonInviteServer
        };
        let tx = Transaction::new(role, peer, local, self.timing);
        let id = TxId(self.next_id());
        let key = TxKey::Server {
            branch: branch_key.0,
            sent_by: branch_key.1,
            method: method.to_string(),
        };
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                tx,
                owner,
                key,
                merge_key: None,
            },
        );
        id
    }

    /// Sends a response through a server transaction.
    fn respond(&mut self, id: TxId, response: &Response) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        let effects = entry.tx.on_respond(response.status, response.to_bytes());
        self.apply(id, effects, false);
    }

    fn set_owner(&mut self, id: TxId, owner: Owner) {
        if let Some(entry) = self.txs.get_mut(&id) {
            entry.owner = owner;
        }
    }

    fn tx_state(&self, id: TxId) -> Option<TxState> {
        self.txs.get(&id).map(|entry| entry.tx.state)
    }

    /// Carries out a transaction's effects; returns what its TU must hear, with the TU.
    fn apply(
        &mut self,
        id: TxId,
        effects: Vec<Effect>,
        retransmission: bool,
    ) -> Vec<(TuNews, Owner)> {
        let mut news = Vec::new();
        for effect in effects {
            match effect {
                Effect::SendLast | Effect::SendAck => {
                    let Some(entry) = self.txs.get(&id) else {
                        continue;
                    };
                    let tx = &entry.tx;
                    let bytes = if effect == Effect::SendAck {
                        tx.ack.clone()
                    } else {
                        tx.last.clone()
                    };
                    let (local, peer) = (tx.local, tx.peer);
                    if retransmission && effect == Effect::SendLast {
                        self.retransmit(local, peer, bytes);
                    } else {
                        self.transmit(local, peer, bytes);
                    }
                }
                Effect::Arm(timer, after) => {
                    self.timers.set(TimerKey::Tx(id, timer), self.now + after)
                }
                Effect::Disarm(timer) => self.timers.cancel(TimerKey::Tx(id, timer)),
                Effect::Tell(tell) => {
                    if let Some(entry) = self.txs.get(&id) {
                        news.push((tell, entry.owner));
                    }
                }
                Effect::Terminate => self.forget_tx(id),
            }
        }
        news
    }

    fn forget_tx(&mut self, id: TxId) {
        let Some(entry) = self.txs.remove(&id) else {
            return;
        };
        if self.tx_index.get(&entry.key) == Some(&id) {
            self.tx_index.remove(&entry.key);
        }
        if let Some(merge_key) = entry.merge_key {
            self.merge_index.remove(&merge_key);
        }
        for timer in [
            Timer::A,
            Timer::B,
            Timer::D,
            Timer::E,
            Timer::F,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::K,
            Timer::L,
            Timer::M,
        ] {
            self.timers.cancel(TimerKey::Tx(id, timer));
        }
    }

    fn set_call_timer(&mut self, call: CallId, timer: CallTimer, after: Duration) {
        self.timers
            .set(TimerKey::Call(call, timer), self.now + after);
    }

    fn cancel_call_timer(&mut self, call: CallId, timer: CallTimer) {
        self.timers.cancel(TimerKey::Call(call, timer));
    }

    /// Moves a finished call to history.
    fn finish_if_over(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !call.is_over() {
            return;
        }
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        self.end_turn(id, &mut call);
        // Requests still being relayed get a final response; an INVITE client transaction that
        // got a provisional has no timer left, so it is forgotten.
        for relay in call.relays.values() {
            let tag = call.leg(relay.server_side).dialog.local_tag.clone();
            self.terminate_server_side(relay, crate::sip::StatusCode::REQUEST_TERMINATED, &tag);
            if self.tx_state(relay.client_tx) == Some(TxState::Proceeding) {
                self.forget_tx(relay.client_tx);
            }
        }
        for leg in &call.legs {
            self.dialogs
                .remove(&(leg.dialog.call_id.clone(), leg.dialog.local_tag.clone()));
        }
        for timer in [
            CallTimer::Retransmit2xx(Side::A),
            CallTimer::Retransmit2xx(Side::B),
            CallTimer::AckTimeout(Side::A),
            CallTimer::AckTimeout(Side::B),
            CallTimer::RingTimeout,
        ] {
            self.cancel_call_timer(id, timer);
        }
        for relay in call.relays.keys() {
            self.cancel_call_timer(id, CallTimer::CancelTimeout(*relay));
            self.cancel_call_timer(id, CallTimer::RelayNoAnswer(*relay));
        }
        // Transactions still running for the call (a BYE's, a CANCEL's) finish on their own;
        // their owner names a call that is gone, which every handler treats as "nothing to do".
        let ending = call.ending.clone().unwrap_or_else(|| call::Ending {
            final_status: 500,
            outcome: crate::status::Outcome::Failed,
            ended_by: crate::status::EndedBy::B2bua,
            reason: "ended without a recorded reason".to_owned(),
        });
        let record = CallRecord {
            tag: call.tag.clone(),
            route: call.route.clone(),
            started_at: call.started_at,
            answered_at: call.answered_at,
            ended_at: self.now,
            final_status: ending.final_status,
            outcome: ending.outcome,
            ended_by: ending.ended_by,
            reason: ending.reason,
            turn: call.turn.clone(),
            legs: [call.legs[0].status(), call.legs[1].status()],
        };
        self.history.push(record.clone());
        self.emit(Event::CallEnded(Box::new(record)));
    }
}

fn top_branch(request: &Request) -> String {
    request
        .headers
        .get(&crate::sip::HeaderName::VIA)
        .and_then(|via| crate::sip::Via::parse(via).ok())
        .and_then(|via| via.branch().map(str::to_owned))
        .unwrap_or_default()
}

fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl std::fmt::Debug for B2bua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("B2bua")
            .field("now", &self.now)
            .field("calls", &self.calls.len())
            .field("transactions", &self.txs.len())
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}
