//! Per-leg dialog state (RFC 3261 §12): Call-ID, tags, CSeq spaces, route set, remote target.

use std::net::{IpAddr, SocketAddr};

use rand_chacha::ChaCha8Rng;

use crate::Transport;
use crate::hop::{Hop, transport_of};
use crate::ids;
use crate::sip::{HeaderName, Headers, Method, NameAddr, Request, Uri, Via};
use crate::transaction::DialogKey;

/// One leg's dialog, from TwoLeg's side.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    /// The leg's Call-ID.
    pub(crate) call_id: String,
    /// TwoLeg's tag on this leg (To-tag on leg A, From-tag on leg B).
    pub(crate) local_tag: String,
    /// The peer's tag, once known.
    pub(crate) remote_tag: Option<String>,
    /// TwoLeg's party on this leg, without tag (the To of leg A, the From of leg B).
    pub(crate) local_party: NameAddr,
    /// The peer's party, without tag.
    pub(crate) remote_party: NameAddr,
    /// The last CSeq number TwoLeg used on this leg.
    pub(crate) local_cseq: u32,
    /// The last CSeq number the peer used on this leg.
    pub(crate) remote_cseq: Option<u32>,
    /// Route set, in the order Route headers are written.
    pub(crate) route_set: Vec<String>,
    /// The peer's Contact URI.
    pub(crate) remote_target: String,
    /// TwoLeg's Contact URI on this leg.
    pub(crate) contact: String,
}

impl Dialog {
    /// How requests and ACKs on this leg find it.
    pub(crate) fn key(&self) -> DialogKey {
        DialogKey::new(&self.call_id, &self.local_tag)
    }

    /// A request in this dialog: the next CSeq number unless `cseq` is given (ACK and CANCEL
    /// reuse the INVITE's), a fresh branch, the route set and the remote target. When the first
    /// route is a strict router (no `lr`), it is the Request-URI and the remote target goes
    /// last in Route (RFC 3261 §12.2.1.1).
    pub(crate) fn request(
        &mut self,
        method: Method,
        cseq: Option<u32>,
        hop: &Hop,
        max_forwards: u8,
        rng: &mut ChaCha8Rng,
    ) -> Request {
        let number = match cseq {
            Some(number) => number,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut headers = Headers::new();
        headers.push(
            HeaderName::VIA,
            Via::new(&hop.transport.to_string(), hop.local, &ids::branch(rng)).to_string(),
        );
        headers.push(HeaderName::MAX_FORWARDS, max_forwards.to_string());
        let strict = self
            .route_set
            .first()
            .and_then(|route| NameAddr::parse(route).ok())
            .filter(|route| route.parsed_uri().is_some_and(|uri| !uri.is_loose_router()));
        let uri = match &strict {
            Some(first) => {
                for route in &self.route_set[1..] {
                    headers.push(HeaderName::ROUTE, route.clone());
                }
                headers.push(HeaderName::ROUTE, format!("<{}>", self.remote_target));
                first.uri.clone()
            }
            None => {
                for route in &self.route_set {
                    headers.push(HeaderName::ROUTE, route.clone());
                }
                self.remote_target.clone()
            }
        };
        let mut from = self.local_party.clone();
        from.set_tag(&self.local_tag);
        headers.push(HeaderName::FROM, from.to_string());
        let mut to = self.remote_party.clone();
        if let Some(tag) = &self.remote_tag {
            to.set_tag(tag);
        }
        headers.push(HeaderName::TO, to.to_string());
        headers.push(HeaderName::CALL_ID, self.call_id.clone());
        headers.push(HeaderName::CSEQ, format!("{number} {method}"));
        if method != Method::ACK && method != Method::CANCEL {
            headers.push(HeaderName::CONTACT, format!("<{}>", self.contact));
        }
        Request {
            method,
            uri,
            headers,
            body: Vec::new(),
        }
    }

    /// The URI in-dialog requests go toward: the first route if there is one (RFC 3261
    /// §12.2.1.1), else the remote target.
    fn next_uri(&self) -> Option<Uri> {
        match self.route_set.first() {
            Some(route) => NameAddr::parse(route).ok()?.parsed_uri(),
            None => Uri::parse(&self.remote_target).ok(),
        }
    }

    /// Where in-dialog requests go: the address of the first route, or of the remote target
    /// (port 5061 for TLS, else 5060, when it gives none), over the transport that URI asks
    /// for (else `fallback`'s); the fallback's connection is kept when the hop is the same.
    /// A host name is for `peer_of_name` to answer (RFC 3263); a URI TwoLeg cannot use, or a
    /// name with no address, leaves `fallback`'s address, where the leg's INVITE came from or
    /// went to.
    pub(crate) fn next_hop(
        &self,
        fallback: &Hop,
        local_for: impl Fn(Transport) -> Option<SocketAddr>,
        peer_of_name: impl FnOnce(&str, Option<u16>, Transport) -> NamedPeer,
    ) -> Hop {
        let uri = self.next_uri();
        let transport = uri
            .as_ref()
            .and_then(transport_of)
            .filter(|transport| *transport == fallback.transport || local_for(*transport).is_some())
            .unwrap_or(fallback.transport);
        let default_port = if transport == Transport::Tls {
            5061
        } else {
            5060
        };
        let (peer, awaiting) = match &uri {
            None => (fallback.peer, None),
            Some(uri) => match uri.host.parse::<IpAddr>() {
                Ok(ip) => (SocketAddr::new(ip, uri.port.unwrap_or(default_port)), None),
                Err(_) if crate::dns::is_host_name(&uri.host) => {
                    match peer_of_name(&uri.host, uri.port, transport) {
                        NamedPeer::Known(address) => (address, None),
                        NamedPeer::Awaiting(wait) => (fallback.peer, Some(wait)),
                        NamedPeer::Unknown => (fallback.peer, None),
                    }
                }
                Err(_) => (fallback.peer, None),
            },
        };
        if transport == fallback.transport && peer == fallback.peer && awaiting.is_none() {
            return *fallback;
        }
        Hop {
            transport,
            local: if transport == fallback.transport {
                fallback.local
            } else {
                local_for(transport).unwrap_or(fallback.local)
            },
            peer,
            connection: None,
            awaiting,
        }
    }
}

/// What the engine knows of a host name's address, for [`Dialog::next_hop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NamedPeer {
    /// Resolved: the first address to try.
    Known(SocketAddr),
    /// Being resolved: the wait that will say.
    Awaiting(u64),
    /// No address (no records, or the lookup failed).
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectionId;

    const UDP_LOCAL: &str = "192.0.2.1:5060";
    const TLS_LOCAL: &str = "192.0.2.1:5061";

    fn dialog(route_set: &[&str], remote_target: &str) -> Dialog {
        Dialog {
            call_id: "c".to_owned(),
            local_tag: "l".to_owned(),
            remote_tag: Some("r".to_owned()),
            local_party: NameAddr::parse("<sip:twoleg@192.0.2.1>").unwrap(),
            remote_party: NameAddr::parse("<sip:peer@198.51.100.2>").unwrap(),
            local_cseq: 1,
            remote_cseq: None,
            route_set: route_set.iter().map(|route| (*route).to_owned()).collect(),
            remote_target: remote_target.to_owned(),
            contact: "sip:twoleg@192.0.2.1:5060".to_owned(),
        }
    }

    fn fallback() -> Hop {
        Hop::udp(
            UDP_LOCAL.parse().unwrap(),
            "198.51.100.2:5060".parse().unwrap(),
        )
    }

    /// TwoLeg listens on UDP and TLS, not on TCP.
    fn local_for(transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => Some(UDP_LOCAL.parse().unwrap()),
            Transport::Tls => Some(TLS_LOCAL.parse().unwrap()),
            Transport::Tcp => None,
        }
    }

    fn no_names(host: &str, _: Option<u16>, _: Transport) -> NamedPeer {
        panic!("{host} is an address, not a name to resolve")
    }

    #[test]
    fn a_host_name_is_resolved_and_its_address_used() {
        let dialog = dialog(
            &["<sip:proxy.example.com;transport=tls;lr>"],
            "sip:peer@198.51.100.2:5060",
        );
        let mut asked = None;
        let hop = dialog.next_hop(&fallback(), local_for, |host, port, transport| {
            asked = Some((host.to_owned(), port, transport));
            NamedPeer::Known("203.0.113.7:5061".parse().unwrap())
        });
        assert_eq!(
            asked,
            Some(("proxy.example.com".to_owned(), None, Transport::Tls)),
            "the first route's host, port and transport are resolved"
        );
        assert_eq!(hop.peer, "203.0.113.7:5061".parse().unwrap());
        assert_eq!(hop.transport, Transport::Tls);
        assert_eq!(hop.awaiting, None);
    }

    #[test]
    fn a_name_being_resolved_makes_the_hop_wait_and_one_without_address_falls_back() {
        let dialog = dialog(&[], "sip:peer@pbx.example.com:5070");
        let hop = dialog.next_hop(&fallback(), local_for, |_, port, _| {
            assert_eq!(port, Some(5070));
            NamedPeer::Awaiting(4)
        });
        assert_eq!(hop.awaiting, Some(4));
        assert_eq!(hop.connection, None);
        let hop = dialog.next_hop(&fallback(), local_for, |_, _, _| NamedPeer::Unknown);
        assert_eq!(hop, fallback(), "no address: where the INVITE went");
    }

    #[test]
    fn an_address_without_port_takes_the_transport_s_default() {
        let hop = dialog(&[], "sips:peer@198.51.100.2").next_hop(&fallback(), local_for, no_names);
        assert_eq!(hop.peer, "198.51.100.2:5061".parse().unwrap());
        let hop = dialog(&[], "sip:peer@198.51.100.3").next_hop(&fallback(), local_for, no_names);
        assert_eq!(hop.peer, "198.51.100.3:5060".parse().unwrap());
    }

    #[test]
    fn a_contact_asking_for_tls_moves_the_dialog_to_tls() {
        for target in [
            "sip:peer@198.51.100.2:5061;transport=tls",
            "sip:peer@198.51.100.2:5061;TRANSPORT=TLS",
            "sips:peer@198.51.100.2:5061",
        ] {
            let hop = dialog(&[], target).next_hop(&fallback(), local_for, no_names);
            assert_eq!(hop.transport, Transport::Tls, "{target}");
            assert_eq!(hop.local, TLS_LOCAL.parse().unwrap(), "{target}");
            assert_eq!(hop.peer, "198.51.100.2:5061".parse().unwrap(), "{target}");
            assert_eq!(
                hop.connection, None,
                "{target}: a connection is found or opened"
            );
        }
    }

    #[test]
    fn the_first_route_decides_over_the_contact() {
        let hop = dialog(
            &["<sip:198.51.100.9:5061;transport=tls;lr>"],
            "sip:peer@198.51.100.2:5060",
        )
        .next_hop(&fallback(), local_for, no_names);
        assert_eq!(hop.transport, Transport::Tls);
        assert_eq!(hop.peer, "198.51.100.9:5061".parse().unwrap());
    }

    #[test]
    fn a_transport_without_a_listener_keeps_the_leg_s_own() {
        let hop = dialog(&[], "sip:peer@198.51.100.2:5070;transport=tcp").next_hop(
            &fallback(),
            local_for,
            no_names,
        );
        assert_eq!(hop.transport, Transport::Udp);
        assert_eq!(hop.local, UDP_LOCAL.parse().unwrap());
        assert_eq!(hop.peer, "198.51.100.2:5070".parse().unwrap());
    }

    #[test]
    fn the_same_hop_keeps_its_connection() {
        let mut over_tcp = fallback();
        over_tcp.transport = Transport::Tcp;
        over_tcp.connection = Some(ConnectionId(7));
        let hop = dialog(&[], "sip:peer@198.51.100.2:5060;transport=tcp").next_hop(
            &over_tcp,
            |_| None,
            no_names,
        );
        assert_eq!(hop, over_tcp);
    }
}
