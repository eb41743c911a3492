//! A scripted SIP user agent for the simulator: places calls as a caller, takes them as a
//! callee, and retransmits over lossy links as RFC 3261 requires of a UA on UDP. The caller's
//! side, the callee's side and the messages it writes are in their own files.

mod callee;
mod caller;
mod media;
mod message;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::script::{CalleeScript, CallerScript};
use twoleg_core::scheduler::Scheduler;
use twoleg_core::sip::ReplyTo;
use twoleg_core::sip::{Message, Method, Parsed};
use twoleg_core::{Instant, Transport};

/// The header that carries the callee's script through the B2BUA.
pub const SCRIPT_HEADER: &str = "X-Sim-Callee";

pub(crate) use media::PORTS_PER_AGENT;
pub use media::{AgentMedia, MediaSecurity};

/// Which end of a call a scripted agent was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It placed the call.
    Caller,
    /// It took the call.
    Callee,
}

/// What happened to one call at one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentCall {
    /// The Call-ID on the agent's leg.
    pub call_id: String,
    /// Caller or callee.
    pub role: Role,
    /// The final status of the INVITE (received by a caller, sent by a callee).
    pub final_status: Option<u16>,
    /// When it was answered.
    pub answered_at: Option<Instant>,
    /// When it ended at this agent.
    pub ended_at: Option<Instant>,
    /// How it ended, in words.
    pub how: String,
    /// What it saw of the media.
    pub media: AgentMedia,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Invite,
    Cancel,
    Bye,
    ReInvite,
    /// The 2xx to an INVITE or re-INVITE, until its ACK.
    Success,
    /// A non-2xx final to an INVITE, until its ACK.
    Failure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Start,
    Cancel,
    HangUp,
    ReInvite,
    Answer,
    /// The next media packet.
    Media,
    Retransmit(Kind),
    GiveUp(Kind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Calling,
    Ringing,
    Answered,
    Confirmed,
    Cancelling,
    Ended,
}

#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    interval: Duration,
    cap: Duration,
}

#[derive(Debug)]
struct Session {
    record: AgentCall,
    state: State,
    caller: CallerScript,
    callee: Option<CalleeScript>,
    local_tag: String,
    remote_tag: Option<String>,
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    cseq: u32,
    invite_branch: String,
    invite_cseq: u32,
    /// For a callee: how to answer the INVITE.
    reply: Option<ReplyTo>,
    last_response: Vec<u8>,
    pending: BTreeMap<Kind, Pending>,
    /// The last ACK sent for a 2xx (caller), re-sent on 2xx retransmissions.
    last_ack: Vec<u8>,
    /// The script wants to cancel, but no provisional response came yet.
    cancel_wanted: bool,
    /// A caller's INVITE went again with credentials (once per call).
    authenticated: bool,
    media: media::SessionMedia,
}

/// A scripted user agent at one address.
#[derive(Debug)]
pub(crate) struct Agent {
    address: SocketAddr,
    /// UDP, or a stream (no retransmissions).
    transport: Transport,
    /// Where callers send their INVITEs: the B2BUA's listener.
    proxy: SocketAddr,
    t1: Duration,
    t2: Duration,
    rng: ChaCha8Rng,
    sessions: BTreeMap<u64, Session>,
    by_call_id: BTreeMap<String, u64>,
    timers: Scheduler<(u64, Timer)>,
    /// Responses to non-INVITE requests, re-sent when the request is retransmitted.
    answered: BTreeMap<(String, u32, String), Vec<u8>>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// Media packets sent: from, to, bytes, what they are.
    media_outbox: Vec<(SocketAddr, SocketAddr, Vec<u8>, String)>,
    /// The first of this agent's media ports.
    media_base: u16,
    /// Packets each side sends once a call is confirmed.
    media_packets: u32,
    /// What this agent accepts as a callee.
    callee_media: MediaSecurity,
    next_session: u64,
    now: Instant,
}

/// How a scripted agent does media.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MediaSetup {
    /// The first of its media ports ([`PORTS_PER_AGENT`] of them).
    pub(crate) base: u16,
    /// Packets each side sends once a call is confirmed.
    pub(crate) packets: u32,
    /// What it accepts as a callee.
    pub(crate) callee: MediaSecurity,
}

impl Agent {
    pub(crate) fn new(
        (address, transport): (SocketAddr, Transport),
        proxy: SocketAddr,
        t1: Duration,
        t2: Duration,
        seed: u64,
        media: MediaSetup,
    ) -> Self {
        Self {
            address,
            transport,
            proxy,
            t1,
            t2,
            rng: ChaCha8Rng::seed_from_u64(seed),
            sessions: BTreeMap::new(),
            by_call_id: BTreeMap::new(),
            timers: Scheduler::new(),
            answered: BTreeMap::new(),
            outbox: Vec::new(),
            media_outbox: Vec::new(),
            media_base: media.base,
            media_packets: media.packets,
            callee_media: media.callee,
            next_session: 0,
            now: Instant::ZERO,
        }
    }

    /// How this agent talks to the engine.
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub(crate) fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Every call this agent took part in.
    pub(crate) fn calls(&self) -> impl Iterator<Item = &AgentCall> {
        self.sessions.values().map(|s| &s.record)
    }

    /// Removes and returns the calls that are over here and have nothing left to retransmit.
    pub(crate) fn take_finished(&mut self) -> Vec<AgentCall> {
        let done: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == State::Ended && s.pending.is_empty())
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for id in done {
            let Some(session) = self.sessions.remove(&id) else {
                continue;
            };
            self.by_call_id.remove(&session.record.call_id);
            let call_id = session.record.call_id.clone();
            self.answered.retain(|(c, _, _), _| *c != call_id);
            out.push(session.record);
        }
        out
    }

    /// How many calls are still going on here.
    pub(crate) fn live(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.state != State::Ended && s.state != State::Idle)
            .count()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some((id, timer)) = self.timers.pop_due(now) {
            self.on_timer(id, timer);
        }
    }

    pub(crate) fn handle_datagram(&mut self, now: Instant, source: SocketAddr, contents: &[u8]) {
        self.now = now;
        let Ok(parsed) = twoleg_core::sip::parse(contents, 65_535) else {
            return;
        };
        match &parsed.message {
            Message::Request(_) => self.on_request(source, parsed),
            Message::Response(_) => self.on_response(parsed),
        }
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.outbox.push((to, bytes));
    }

    /// Sends `bytes` to the proxy and retransmits them until `stop(kind)` (RFC 3261 Timers A/E
    /// and the 2xx/G retransmissions), giving up after 64·T1.
    fn send_reliably(&mut self, id: u64, kind: Kind, bytes: Vec<u8>, cap: Duration) {
        self.send(self.proxy, bytes.clone());
        if self.transport != Transport::Udp {
            // A reliable transport retransmits for us (RFC 3261 §17): only the give-up timer.
            self.timers
                .set((id, Timer::GiveUp(kind)), self.now + self.t1 * 64);
            return;
        }
        if let Some(session) = self.sessions.get_mut(&id) {
            session.pending.insert(
                kind,
                Pending {
                    bytes,
                    interval: self.t1,
                    cap,
                },
            );
        }
        self.timers
            .set((id, Timer::Retransmit(kind)), self.now + self.t1);
        self.timers
            .set((id, Timer::GiveUp(kind)), self.now + self.t1 * 64);
    }

    fn stop(&mut self, id: u64, kind: Kind) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.pending.remove(&kind);
        }
        self.timers.cancel((id, Timer::Retransmit(kind)));
        self.timers.cancel((id, Timer::GiveUp(kind)));
    }

    fn end(&mut self, id: u64, how: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.state == State::Ended {
            return;
        }
        session.state = State::Ended;
        session.record.ended_at = Some(self.now);
        session.record.how = how.to_owned();
        for timer in [
            Timer::Cancel,
            Timer::HangUp,
            Timer::ReInvite,
            Timer::Answer,
            Timer::Media,
        ] {
            self.timers.cancel((id, timer));
        }
        // Outstanding BYE, CANCEL and final-response retransmissions run to their end.
    }

    fn on_timer(&mut self, id: u64, timer: Timer) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let state = session.state;
        match timer {
            Timer::Start => self.start_call(id),
            // RFC 3261 §9.1: no CANCEL before a provisional response; it waits for one.
            Timer::Cancel if state == State::Calling => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    session.cancel_wanted = true;
                }
            }
            Timer::Cancel if state == State::Ringing => self.send_cancel(id),
            Timer::HangUp if state == State::Confirmed => self.hang_up(id),
            Timer::ReInvite if state == State::Confirmed => {
                let offer = self.offer_sdp(id);
                let bytes = self.in_dialog_request(id, Method::INVITE, Some(&offer));
                self.send_reliably(id, Kind::ReInvite, bytes, self.t2 * 64);
            }
            Timer::Media if state == State::Confirmed => self.send_media(id),
            Timer::Answer if state == State::Ringing => self.answer(id),
            Timer::Answer if state == State::Calling => self.end(id, "stayed silent"),
            Timer::Retransmit(kind) => {
                let Some(pending) = self
                    .sessions
                    .get_mut(&id)
                    .and_then(|s| s.pending.get_mut(&kind))
                else {
                    return;
                };
                let bytes = pending.bytes.clone();
                pending.interval = (pending.interval * 2).min(pending.cap);
                let next = pending.interval;
                self.send(self.proxy, bytes);
                self.timers
                    .set((id, Timer::Retransmit(kind)), self.now + next);
            }
            Timer::GiveUp(kind) => {
                self.stop(id, kind);
                match kind {
                    Kind::Invite => {
                        if let Some(session) = self.sessions.get_mut(&id) {
                            session.record.final_status = Some(408);
                        }
                        self.end(id, "no response to the INVITE");
                    }
                    Kind::Success => {
                        // No ACK: hang up (RFC 3261 §13.3.1.4).
                        if let Some(session) = self.sessions.get_mut(&id) {
                            session.state = State::Confirmed;
                        }
                        self.hang_up(id);
                    }
                    Kind::Bye => self.end(id, "BYE got no answer"),
                    Kind::Failure => self.end(id, "no ACK for the final response"),
                    Kind::Cancel | Kind::ReInvite => {}
                }
            }
            _ => {}
        }
    }
}

pub(crate) fn key(parsed: &Parsed) -> (String, u32, String) {
    (
        parsed.call_id.clone(),
        parsed.cseq.number,
        parsed.cseq.method.to_string(),
    )
}
