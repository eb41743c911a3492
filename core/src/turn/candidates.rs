//! ICE candidates in the Lync leg's SDP: TwoLeg's host and TURN relay candidates written in
//! (RFC 8445 priorities, RFC 8839 syntax), and the far side's addresses read out for
//! CreatePermission.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// RFC 8445 §5.1.2.1: priority = 2^24·type preference + 2^8·local preference + (256 −
/// component), with local preference 65535.
const fn priority(type_preference: u32, component: u32) -> u32 {
    (type_preference << 24) + (65_535 << 8) + (256 - component)
}

/// Host candidates: type preference 126.
const HOST_RTP: u32 = priority(126, 1);
const HOST_RTCP: u32 = priority(126, 2);
/// Relay candidates: type preference 0 (16777215 and 16777214).
const RELAY_RTP: u32 = priority(0, 1);
const RELAY_RTCP: u32 = priority(0, 2);

/// TwoLeg's candidates for one media stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidates {
    /// TwoLeg's RTP address (the base of the relays); RTCP is the next port.
    pub(crate) host_rtp: SocketAddr,
    pub(crate) relay_rtp: SocketAddr,
    pub(crate) relay_rtcp: SocketAddr,
    /// The RTP address the TURN server saw (`raddr`/`rport` of both relay candidates).
    pub(crate) mapped: SocketAddr,
    /// The TURN server's index: relay foundations differ per server (RFC 8445 §5.1.1.3).
    pub(crate) server: usize,
    pub(crate) ufrag: String,
    pub(crate) pwd: String,
}

impl Candidates {
    fn lines(&self) -> String {
        let mut out = String::new();
        let host_ip = self.host_rtp.ip();
        let host_port = self.host_rtp.port();
        let relay_foundation = self.server + 2;
        let (raddr, rport) = (self.mapped.ip(), self.mapped.port());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
             a=candidate:1 1 UDP {HOST_RTP} {host_ip} {host_port} typ host\r\n\
             a=candidate:1 2 UDP {HOST_RTCP} {host_ip} {} typ host\r\n\
             a=candidate:{relay_foundation} 1 UDP {RELAY_RTP} {} {} typ relay raddr {raddr} rport {rport}\r\n\
             a=candidate:{relay_foundation} 2 UDP {RELAY_RTCP} {} {} typ relay raddr {raddr} rport {rport}\r\n",
            self.ufrag,
            self.pwd,
            host_port.wrapping_add(1),
            self.relay_rtp.ip(),
            self.relay_rtp.port(),
            self.relay_rtcp.ip(),
            self.relay_rtcp.port(),
        );
        out
    }
}

/// Whether a body is an SDP session description.
fn sdp_text(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    text.trim_start().starts_with("v=0").then_some(text)
}

/// Lines TwoLeg replaces: the offerer's own ICE attributes would contradict its candidates.
fn replaced(line: &str) -> bool {
    [
        "a=candidate:",
        "a=ice-ufrag:",
        "a=ice-pwd:",
        "a=remote-candidates:",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

/// The SDP `body` with TwoLeg's ICE credentials and candidates in its first media section (at
/// the end when it has none); `None` when the body is not SDP.
pub(crate) fn add_to_sdp(body: &[u8], candidates: &Candidates) -> Option<Vec<u8>> {
    let text = sdp_text(body)?;
    let mut out = String::with_capacity(text.len() + 512);
    let mut media_sections = 0;
    let mut inserted = false;
    for line in text.lines() {
        if line.starts_with("m=") {
            media_sections += 1;
            if media_sections == 2 && !inserted {
                out.push_str(&candidates.lines());
                inserted = true;
            }
        }
        if replaced(line) || line.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !inserted {
        out.push_str(&candidates.lines());
    }
    Some(out.into_bytes())
}

/// The far side's media addresses in an SDP body: `c=` addresses and every candidate's address,
/// once each (the ones TURN permissions are needed for).
pub(crate) fn peer_addresses(body: &[u8]) -> Vec<IpAddr> {
    let Some(text) = sdp_text(body) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for line in text.lines() {
        let address = if let Some(rest) = line.strip_prefix("c=") {
            rest.split_whitespace().nth(2)
        } else if let Some(rest) = line.strip_prefix("a=candidate:") {
            rest.split_whitespace().nth(4)
        } else {
            None
        };
        let Some(ip) = address.and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok()) else {
            continue;
        };
        if !ip.is_unspecified() && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        a=ice-ufrag:theirs\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
        a=candidate:9 1 UDP 2130706431 10.0.0.1 4000 typ host\r\nm=video 4002 RTP/AVP 96\r\n";

    fn candidates() -> Candidates {
        Candidates {
            host_rtp: "127.0.0.1:56000".parse().unwrap(),
            relay_rtp: "127.0.0.2:49162".parse().unwrap(),
            relay_rtcp: "127.0.0.2:49163".parse().unwrap(),
            mapped: "127.0.0.1:56000".parse().unwrap(),
            server: 0,
            ufrag: "abcd".to_owned(),
            pwd: "0123456789abcdef01234567".to_owned(),
        }
    }

    #[test]
    fn priorities_follow_rfc_8445() {
        assert_eq!(RELAY_RTP, 16_777_215);
        assert_eq!(RELAY_RTCP, 16_777_214);
        assert_eq!(HOST_RTP, 2_130_706_431);
    }

    #[test]
    fn candidates_go_into_the_first_media_section_replacing_the_offerers() {
        let out = String::from_utf8(add_to_sdp(OFFER.as_bytes(), &candidates()).unwrap()).unwrap();
        assert!(!out.contains("theirs") && !out.contains("10.0.0.1 4000 typ host"));
        let audio = out.find("m=audio").unwrap();
        let video = out.find("m=video").unwrap();
        let relay = out
            .find("a=candidate:2 1 UDP 16777215 127.0.0.2 49162 typ relay raddr 127.0.0.1 rport 56000")
            .unwrap();
        assert!(audio < relay && relay < video, "{out}");
        assert!(out.contains("a=candidate:2 2 UDP 16777214 127.0.0.2 49163 typ relay"));
        assert!(out.contains("a=candidate:1 2 UDP 2130706430 127.0.0.1 56001 typ host"));
        assert!(out.contains("a=ice-ufrag:abcd\r\n"));
        assert_eq!(add_to_sdp(b"not sdp", &candidates()), None);
    }

    #[test]
    fn peer_addresses_come_from_connection_lines_and_candidates() {
        let answer = "v=0\r\nc=IN IP4 192.0.2.7\r\nm=audio 5000 RTP/AVP 0\r\n\
            a=candidate:1 1 UDP 2130706431 192.0.2.7 5000 typ host\r\n\
            a=candidate:2 1 UDP 16777215 198.51.100.9 6000 typ relay raddr 192.0.2.7 rport 5000\r\n\
            c=IN IP4 0.0.0.0\r\n";
        let want: Vec<IpAddr> = vec![
            "192.0.2.7".parse().unwrap(),
            "198.51.100.9".parse().unwrap(),
        ];
        assert_eq!(peer_addresses(answer.as_bytes()), want);
        assert!(peer_addresses(b"hello").is_empty());
    }
}
