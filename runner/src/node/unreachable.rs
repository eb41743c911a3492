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
//! peer. So an error counts only if it quotes a request TwoLeg recently sent to that peer from
//! its start to the end of its top Via's branch (random, known only to the peer and the path).
//! [`SentDatagrams`] keeps a keyed hash of that much of each request (never of a response,
//! whose every byte a sender of a crafted request can predict). An error that quotes less (a
//! router quoting only 128 bytes, a branch past [`VOUCHED_LIMIT`]), or something TwoLeg did
//! not send, is ignored: the request then fails over on its timers as it would without ICMP.

use std::collections::{HashMap, VecDeque};
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

/// How far into a request its top Via's branch may end for an ICMP error about it to count:
/// an ICMP error from a host or a router per RFC 1812 quotes as much of the datagram as fits
/// in 576 bytes (520 bytes of UDP payload over IPv4).
pub(super) const VOUCHED_LIMIT: usize = 512;

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
    /// The fingerprint of each request sent, oldest first (for forgetting).
    order: VecDeque<u64>,
    /// How many of the requests remembered have each fingerprint (for the lookup).
    fingerprints: HashMap<u64, u32>,
}

impl SentDatagrams {
    pub(super) fn new() -> Self {
        Self {
            key: RandomState::new(),
            order: VecDeque::with_capacity(REMEMBERED),
            fingerprints: HashMap::with_capacity(REMEMBERED),
        }
    }

    /// Notes a datagram sent to `destination`: a request, up to its top Via's branch (a
    /// response, or a request whose branch ends past [`VOUCHED_LIMIT`], is not noted).
    pub(super) fn note(&mut self, destination: SocketAddr, contents: &[u8]) {
        // The branch must end inside the bytes looked at (else it may be cut short).
        let head = contents.len().min(VOUCHED_LIMIT);
        let Some(fingerprint) = self.fingerprint(destination, contents, head) else {
            return;
        };
        if self.order.len() == REMEMBERED
            && let Some(oldest) = self.order.pop_front()
            && let Some(count) = self.fingerprints.get_mut(&oldest)
        {
            *count -= 1;
            if *count == 0 {
                self.fingerprints.remove(&oldest);
            }
        }
        self.order.push_back(fingerprint);
        *self.fingerprints.entry(fingerprint).or_default() += 1;
    }

    /// Whether `error` quotes a request sent to its destination lately, up to its branch: the
    /// quote is read as the request was (a quote cut inside the branch hashes otherwise), so
    /// one hash and one lookup, whatever was sent.
    pub(super) fn vouches_for(&self, error: &IcmpError) -> bool {
        let limit = error.quoted.len() + 1;
        self.fingerprint(error.destination, &error.quoted, limit)
            .is_some_and(|fingerprint| self.fingerprints.contains_key(&fingerprint))
    }

    /// The keyed hash of `destination` and `contents` up to its top Via's branch's end, if
    /// that ends before `limit`.
    fn fingerprint(&self, destination: SocketAddr, contents: &[u8], limit: usize) -> Option<u64> {
        let end = branch_end(contents).filter(|&end| end < limit)?;
        let mut hasher = self.key.build_hasher();
        std::hash::Hash::hash(&destination, &mut hasher);
        hasher.write(&contents[..end]);
        Some(hasher.finish())
    }
}

/// Every queued ICMP error: the original datagrams' destinations and what they quote.
pub(super) fn drain(socket: &UdpSocket) -> Vec<IcmpError> {
    let mut out = Vec::new();
    // A queue is short: the bound only guards against a kernel that keeps answering.
    for _ in 0..64 {
        let mut data = [0u8; VOUCHED_LIMIT];
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
                quoted: data[..quoted_length.min(VOUCHED_LIMIT)].to_vec(),
            });
        }
    }
    out
}

/// Where a request's top Via's `branch` value ends (at a parameter, header or line end, or
/// where the bytes end), if it is a request and that is within [`VOUCHED_LIMIT`] bytes.
fn branch_end(contents: &[u8]) -> Option<usize> {
    let head = &contents[..contents.len().min(VOUCHED_LIMIT)];
    if head.starts_with(b"SIP/") {
        return None;
    }
    let mut line_start = 0;
    for line in head.split(|&b| b == b'\n') {
        let start = line_start;
        line_start += line.len() + 1;
        let name_end = line.iter().position(|&b| b == b':')?;
        let name = line[..name_end].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v")) {
            // The request line has no colon before its URI's; skip it and other headers.
            continue;
        }
        let at = line
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"branch="))?
            + 7;
        let length = line[at..]
            .iter()
            .position(|&b| matches!(b, b';' | b',' | b'\r' | b' ' | b'\t'))
            .unwrap_or(line.len() - at);
        return (length > 0).then_some(start + at + length);
    }
    None
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.7:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc123;rport\r\n\
        Max-Forwards: 69\r\n\r\n";

    fn error(quoted: &[u8]) -> IcmpError {
        IcmpError {
            destination: "192.0.2.7:5070".parse().unwrap(),
            quoted: quoted.to_vec(),
        }
    }

    #[test]
    fn a_request_is_vouched_for_up_to_its_branch_and_a_response_never() {
        let end = branch_end(INVITE).unwrap();
        assert!(INVITE[..end].ends_with(b"branch=z9hG4bKabc123"));
        assert_eq!(
            branch_end(b"BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;BRANCH=z9hG4bKx\r\n\r\n"),
            Some(53)
        );
        assert_eq!(
            branch_end(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"),
            None
        );
        assert_eq!(
            branch_end(b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n"),
            None
        );
        let mut long = b"INVITE sip:".to_vec();
        long.extend(std::iter::repeat_n(b'a', VOUCHED_LIMIT));
        long.extend_from_slice(b" SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n");
        assert_eq!(branch_end(&long), None, "a branch past the limit");

        let mut sent = SentDatagrams::new();
        sent.note("192.0.2.7:5070".parse().unwrap(), INVITE);
        sent.note(
            "192.0.2.7:5070".parse().unwrap(),
            b"SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n",
        );
        assert!(sent.vouches_for(&error(INVITE)));
        assert!(
            sent.vouches_for(&error(&INVITE[..end])),
            "quoted to the branch's end"
        );
        assert!(
            !sent.vouches_for(&error(&INVITE[..end - 1])),
            "quoted too little"
        );
        let guessed = String::from_utf8_lossy(INVITE).replace("abc123", "abc124");
        assert!(!sent.vouches_for(&error(guessed.as_bytes())));
        assert!(!sent.vouches_for(&error(
            b"SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n"
        )));
        let elsewhere = IcmpError {
            destination: "192.0.2.8:5070".parse().unwrap(),
            quoted: INVITE.to_vec(),
        };
        assert!(!sent.vouches_for(&elsewhere));
    }
}
