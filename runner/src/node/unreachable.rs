//! ICMP errors on the SIP listeners' UDP sockets (port or host unreachable), read from Linux's
//! socket error queue (`IP_RECVERR`), so that a request to a peer that is not listening fails
//! at once (the engine answers 503 or fails over) instead of after Timer B.
//!
//! With `IP_RECVERR` on, an ICMP error makes the socket's next receive fail
//! (`ECONNREFUSED`, `EHOSTUNREACH`, ...) and queues the datagram's original destination; the
//! reader thread then drains the queue here.

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

/// Every destination the queued ICMP errors name (the original datagrams' destinations).
pub(super) fn drain(socket: &UdpSocket) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    // A queue is short: the bound only guards against a kernel that keeps answering.
    for _ in 0..64 {
        let mut data = [0u8; 512];
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
        if let (true, Some(destination)) = (icmp, destination) {
            out.push(destination);
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
