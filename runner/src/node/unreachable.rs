//! ICMP errors on the SIP listeners' UDP sockets (port or host unreachable), read from Linux's
//! socket error queue (`IP_RECVERR`), so that a request to a peer that is not listening fails
//! at once (the engine answers 503 or fails over) instead of after Timer B.
//!
//! With `IP_RECVERR` on, an ICMP error makes the socket's next receive fail
//! (`ECONNREFUSED`, `EHOSTUNREACH`, ...) and queues the datagram's original destination with
//! the start of the datagram the ICMP message quotes; the reader thread then drains the queue
//! here.
//!
//! ICMP is not authenticated: anyone may send a "port unreachable" naming a listener and a
//! peer. So an error counts only if it quotes the start of a datagram TwoLeg recently sent to
//! that peer, up to [`VOUCHED_PREFIX`] bytes, which hold the request's Via branch (random,
//! unknown off the path). [`SentDatagrams`] keeps a keyed hash of each one's start. An error
//! that quotes too little, or something TwoLeg did not send, is ignored: the request then
//! fails over on its timers as it would without ICMP.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};

/// Where a queued error came from (`linux/errqueue.h`).
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// Asks the kernel to queue ICMP errors for this socket. A failure is logged: the socket works
/// as before, only without early failure.
pub(super) fn enable(socket: &UdpSocket, local: SocketAddr) {
    let result = if local.is_ipv4() {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)
    } else {
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)
    };
    if let Err(e) = result {
        tracing::warn!(%local, error = %e, "cannot read ICMP errors on this listener");
    }
}

/// Whether a receive error is one an ICMP error leaves behind.
pub(super) fn is_icmp_error(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::ECONNREFUSED | nix::libc::EHOSTUNREACH | nix::libc::ENETUNREACH)
    )
}

/// How much of a sent datagram's start an ICMP error must quote to count: a request line and
/// a Via with its branch fit, and every ICMP error from a host or a router per RFC 1812 quotes
/// more (as much as fits in 576 bytes).
pub(super) const VOUCHED_PREFIX: usize = 256;

/// Sent datagrams remembered, the newest: ICMP errors come back within a round trip.
const REMEMBERED: usize = 8_192;

/// A queued ICMP error: where the datagram went and the start of it the error quotes.
#[derive(Debug)]
pub(crate) struct IcmpError {
    pub(crate) destination: SocketAddr,
    pub(crate) quoted: Vec<u8>,
}

/// Keyed hashes of the starts of the datagrams sent from the listeners, newest last, to tell
/// an ICMP error about one of them from a forged one.
pub(super) struct SentDatagrams {
    /// A key drawn at start (so that the hashes cannot be matched off the machine).
    key: RandomState,
    sent: VecDeque<(SocketAddr, u64)>,
}

impl SentDatagrams {
    pub(super) fn new() -> Self {
        Self {
            key: RandomState::new(),
            sent: VecDeque::with_capacity(REMEMBERED),
        }
    }

    /// Notes a datagram sent to `destination`.
    pub(super) fn note(&mut self, destination: SocketAddr, contents: &[u8]) {
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        let start = &contents[..contents.len().min(VOUCHED_PREFIX)];
        let hash = self.hash(destination, start);
        self.sent.push_back((destination, hash));
    }

    /// Whether `error` quotes the start of a datagram sent to its destination lately.
    pub(super) fn vouches_for(&self, error: &IcmpError) -> bool {
        // A quote shorter than the prefix matches only a datagram that short: one it would
        // not vouch for otherwise is never matched.
        let start = &error.quoted[..error.quoted.len().min(VOUCHED_PREFIX)];
        let hash = self.hash(error.destination, start);
        self.sent
            .iter()
            .rev()
            .any(|&(destination, sent)| destination == error.destination && sent == hash)
    }

    fn hash(&self, destination: SocketAddr, start: &[u8]) -> u64 {
        let mut hasher = self.key.build_hasher();
        std::hash::Hash::hash(&destination, &mut hasher);
        hasher.write_usize(start.len());
        hasher.write(start);
        hasher.finish()
    }
}

/// Every queued ICMP error: the original datagrams' destinations and what they quote.
pub(super) fn drain(socket: &UdpSocket) -> Vec<IcmpError> {
    let mut out = Vec::new();
    // A queue is short: the bound only guards against a kernel that keeps answering.
    for _ in 0..64 {
        let mut data = [0u8; VOUCHED_PREFIX];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
        let Ok(message) = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        ) else {
            break;
        };
        // Only port, host or network unreachable from ICMP says the peer is not there (a
        // "packet too big" or a local error does not).
        let icmp = message.cmsgs().ok().is_some_and(|mut cmsgs| {
            cmsgs.any(|cmsg| match cmsg {
                ControlMessageOwned::Ipv4RecvErr(error, _)
                | ControlMessageOwned::Ipv6RecvErr(error, _) => {
                    matches!(error.ee_origin, SO_EE_ORIGIN_ICMP | SO_EE_ORIGIN_ICMP6)
                        && i32::try_from(error.ee_errno).is_ok_and(|errno| {
                            matches!(
                                errno,
                                nix::libc::ECONNREFUSED
                                    | nix::libc::EHOSTUNREACH
                                    | nix::libc::ENETUNREACH
                            )
                        })
                }
                _ => false,
            })
        });
        let destination = message.address.and_then(|address| socket_addr(&address));
        let quoted_length = message.bytes;
        if let (true, Some(destination)) = (icmp, destination) {
            out.push(IcmpError {
                destination,
                quoted: data[..quoted_length.min(VOUCHED_PREFIX)].to_vec(),
            });
        }
    }
    out
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}
