//! Load shedding at the door. The listeners' reader threads count the datagrams they queue
//! for the I/O loop; while more than a bound wait (the engine is behind), a new INVITE is
//! answered 503 with Retry-After right there, statelessly, instead of waiting in the queue and
//! then in the socket buffer until the kernel drops it unseen. Everything else (ACK, BYE,
//! responses, in-dialog requests) still queues: calls already up are never shed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use twoleg_core::sip::{HeaderName, StatusCode};

use super::INPUT_QUEUE;

/// Datagrams waiting for the loop beyond which new INVITEs are shed, by default.
pub(crate) const SHED_AT: usize = INPUT_QUEUE * 3 / 4;

/// How long a shed caller is asked to wait, in seconds.
const RETRY_AFTER_S: u32 = 5;

/// The depth of the loop's input queue, and the calls shed.
#[derive(Debug)]
pub(crate) struct InputQueue {
    depth: AtomicUsize,
    shed: AtomicU64,
    shed_at: usize,
}

impl InputQueue {
    pub(crate) fn new(shed_at: usize) -> Self {
        Self {
            depth: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            shed_at,
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
        if self.depth() >= self.shed_at
            && let Some(refusal) = refusal(contents, source, self.shed())
        {
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Some(refusal);
        }
        self.depth.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The loop took a queued datagram.
    pub(super) fn taken(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A 503 with Retry-After to a new INVITE (no To tag), and where it goes; `None` for
/// anything else.
fn refusal(contents: &[u8], source: SocketAddr, serial: u64) -> Option<(Vec<u8>, SocketAddr)> {
    if !contents.starts_with(b"INVITE ") {
        return None;
    }
    let parsed = twoleg_core::sip::parse(contents, contents.len()).ok()?;
    if parsed.to.tag().is_some() {
        return None;
    }
    let reply = twoleg_core::sip::ReplyTo::new(&parsed, source);
    let tag = format!("shed{serial:x}");
    let mut response = reply.response(StatusCode::SERVICE_UNAVAILABLE, "Overloaded", Some(&tag));
    response
        .headers
        .push(HeaderName::RETRY_AFTER, RETRY_AFTER_S.to_string());
    Some((response.to_bytes(), reply.address))
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
        let (bytes, to) = queue.admit(INVITE.as_bytes(), source()).expect("shed");
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
        assert_eq!((queue.depth(), queue.shed()), (4, 1));
        queue.taken();
        assert_eq!(queue.depth(), 3);
    }
}
