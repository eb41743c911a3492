//! How a message travels between TwoLeg and one peer: the transport, TwoLeg's address on it (a
//! listener), the peer's address, and the stream connection when there is one.

use std::net::SocketAddr;

use crate::sip::Uri;
use crate::{ConnectionId, Transport};

/// One hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hop {
    pub(crate) transport: Transport,
    /// TwoLeg's listener.
    pub(crate) local: SocketAddr,
    /// The peer.
    pub(crate) peer: SocketAddr,
    /// The stream connection to use, if one is known (the one a request came on); `None` on
    /// UDP, or when the host is to find or open one to `peer`.
    pub(crate) connection: Option<ConnectionId>,
    /// While the peer is a host name still being resolved: the wait for it (see
    /// `engine::names`). Messages on this hop are held until the address is known; `peer` is
    /// where they go should the name have none.
    pub(crate) awaiting: Option<u64>,
}

impl Hop {
    /// A UDP hop.
    pub(crate) fn udp(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            local,
            peer,
            connection: None,
            awaiting: None,
        }
    }

    /// The hop responses to a request that arrived on this one take: the same transport,
    /// listener and connection; `address` (the Via's response address) is where they go over
    /// UDP, or where a new connection goes should the request's be gone (RFC 3261 §18.2.2).
    pub(crate) fn answering(&self, address: SocketAddr) -> Self {
        Self {
            peer: address,
            ..*self
        }
    }

    /// Whether the transport delivers reliably (see [`Transport::is_reliable`]).
    pub(crate) fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}

/// The transport a URI asks for (RFC 3261 §19.1.1, §26.2): `sips:` means TLS, else its
/// `transport` parameter, else none.
pub(crate) fn transport_of(uri: &Uri) -> Option<Transport> {
    if uri.scheme.eq_ignore_ascii_case("sips") {
        return Some(Transport::Tls);
    }
    let param = uri
        .params
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("transport"))?
        .1
        .as_deref()?;
    match param.to_ascii_lowercase().as_str() {
        "udp" => Some(Transport::Udp),
        "tcp" => Some(Transport::Tcp),
        "tls" => Some(Transport::Tls),
        _ => None,
    }
}

/// TwoLeg's Contact URI on a listener: `;transport=` names TCP and TLS (Lync writes
/// `transport=tls` rather than `sips:`).
pub(crate) fn contact_uri(transport: Transport, local: SocketAddr) -> String {
    match transport {
        Transport::Udp => format!("sip:twoleg@{local}"),
        Transport::Tcp => format!("sip:twoleg@{local};transport=tcp"),
        Transport::Tls => format!("sip:twoleg@{local};transport=tls"),
    }
}
