//! Load shedding at the door. The listeners' reader threads count the datagrams they queue
//! for the I/O loop; while more than a bound wait (the engine is behind), a new INVITE is
//! answered 503 with Retry-After right there, statelessly, instead of waiting in the queue and
//! then in the socket buffer until the kernel drops it unseen. Everything else (ACK, BYE,
//! responses, in-dialog requests) still queues: calls already up are never shed. Nor is a
//! retransmission of an INVITE that was queued (its top Via branch was seen in the last 32 s):
//! a 503 to it would end a caller's transaction whose call is being set up.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use twoleg_core::sip::{HeaderName, StatusCode};

use super::INPUT_QUEUE;

/// Datagrams waiting for the loop beyond which new INVITEs are shed, by default.
pub(crate) const SHED_AT: usize = INPUT_QUEUE * 3 / 4;

/// How long a shed caller is asked to wait, in seconds.
const RETRY_AFTER_S: u32 = 5;

/// How long a queued INVITE's branch is remembered (its caller's Timer B).
const REMEMBER: Duration = Duration::from_secs(32);

/// Branches remembered at most.
const REMEMBER_AT_MOST: usize = 65_536;

/// The depth of the loop's input queue, and the calls shed.
#[derive(Debug)]
pub(crate) struct InputQueue {
    depth: AtomicUsize,
    shed: AtomicU64,
    shed_at: usize,
    /// Top Via branches of the INVITEs queued lately, oldest first.
    queued: Mutex<Queued>,
}

#[derive(Debug, Default)]
struct Queued {
    branches: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Queued {
    fn remember(&mut self, branch: String, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < REMEMBER && self.order.len() < REMEMBER_AT_MOST {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.branches.remove(&old);
            }
        }
        if self.branches.insert(branch.clone()) {
            self.order.push_back((now, branch));
        }
    }
}

impl InputQueue {
    pub(crate) fn new(shed_at: usize) -> Self {
        Self {
            depth: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            shed_at,
            queued: Mutex::new(Queued::default()),
        }
    }

    /// Datagrams waiting for the loop now.
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// New INVITEs answered 503 at the door so far.
    pub(crate) fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// For a datagram about to be queued: the 503 to answer it with instead (and where it
    /// goes), when the queue is past its bound and it is a new INVITE; else it counts as
    /// queued.
    pub(super) fn admit(
        &self,
        contents: &[u8],
        source: SocketAddr,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        if let Some(invite) = NewInvite::read(contents, source) {
            // A poisoned lock only means a panic elsewhere; the set is whole.
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            let seen = queued.branches.contains(&invite.branch);
            if self.depth() >= self.shed_at && !seen {
                drop(queued);
                let serial = self.shed.fetch_add(1, Ordering::Relaxed);
                return Some(invite.refusal(serial));
            }
            queued.remember(invite.branch, Instant::now());
        }
        self.depth.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The loop took a queued datagram.
    pub(super) fn taken(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An INVITE outside any dialog (no To tag): its top Via branch and how to answer it.
struct NewInvite {
    branch: String,
    reply: twoleg_core::sip::ReplyTo,
}

impl NewInvite {
    fn read(contents: &[u8], source: SocketAddr) -> Option<Self> {
        if !contents.starts_with(b"INVITE ") {
            return None;
        }
        let parsed = twoleg_core::sip::parse(contents, contents.len()).ok()?;
        if parsed.to.tag().is_some() {
            return None;
        }
        let branch = parsed.vias.first()?.branch()?.to_owned();
        let reply = twoleg_core::sip::ReplyTo::new(&parsed, source);
        Some(Self { branch, reply })
    }

    /// A 503 with Retry-After, and where it goes.
    fn refusal(&self, serial: u64) -> (Vec<u8>, SocketAddr) {
        let tag = format!("shed{serial:x}");
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let mut response = self.reply.response(status, "Overloaded", Some(&tag));
        response
            .headers
            .push(HeaderName::RETRY_AFTER, RETRY_AFTER_S.to_string());
        (response.to_bytes(), self.reply.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKshed1\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@example.com>;tag=a\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: shed1\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    fn source() -> SocketAddr {
        "127.0.0.1:5080".parse().unwrap()
    }

    #[test]
    fn below_the_bound_everything_queues_and_past_it_only_new_invites_are_shed() {
        let queue = InputQueue::new(2);
        assert!(queue.admit(INVITE.as_bytes(), source()).is_none());
        assert!(
            queue
                .admit(b"BYE sip:x SIP/2.0\r\n\r\n", source())
                .is_none()
        );
        assert_eq!(queue.depth(), 2);
        // A retransmission of the queued INVITE queues; a new one is shed.
        assert!(queue.admit(INVITE.as_bytes(), source()).is_none());
        let new = INVITE.replace("z9hG4bKshed1", "z9hG4bKshed2");
        let (bytes, to) = queue.admit(new.as_bytes(), source()).expect("shed");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("SIP/2.0 503 Overloaded\r\n"), "{text}");
        assert!(text.contains("Retry-After: 5\r\n"));
        assert!(text.contains("Call-ID: shed1\r\n"));
        assert_eq!(to, source());
        // An ACK or a re-INVITE (To tag) still queues.
        assert!(
            queue
                .admit(b"ACK sip:x SIP/2.0\r\n\r\n", source())
                .is_none()
        );
        let reinvite = INVITE.replace(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=b",
        );
        assert!(queue.admit(reinvite.as_bytes(), source()).is_none());
        assert_eq!((queue.depth(), queue.shed()), (5, 1));
        queue.taken();
        assert_eq!(queue.depth(), 4);
    }
}
