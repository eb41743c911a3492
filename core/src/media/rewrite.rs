//! Writing a leg's SDP when TwoLeg anchors the media: the other leg's description with
//! TwoLeg's origin, address, ports, profiles and keys in place of the peer's; lines that only
//! mean something between the peer and TwoLeg (ICE, DTLS, `a=rtcp`, `a=rtcp-mux`, bundling) are
//! dropped, every other line is kept in order.

use std::fmt::Write;
use std::net::IpAddr;

use twoleg_srtp::Crypto;

use super::sdp::{MediaSection, SessionDescription};

/// TwoLeg's `o=` line on one leg (RFC 8866 §5.2): one session id per leg, the version bumped
/// with every description written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) session_id: u64,
    pub(crate) version: u64,
}

/// One media section as TwoLeg writes it on a leg.
#[derive(Debug)]
pub(crate) struct SectionOut<'a> {
    /// Where its formats and attributes come from: the other leg's section, or (rejected) the
    /// offered section itself.
    pub(crate) source: &'a MediaSection,
    /// TwoLeg's RTP port on the leg; 0 rejects the section.
    pub(crate) port: u16,
    /// `RTP/SAVP(F)` rather than `RTP/AVP(F)`.
    pub(crate) secure_profile: bool,
    /// TwoLeg's own crypto lines (keys for what it sends on the leg).
    pub(crate) cryptos: Vec<Crypto>,
}

/// Attributes TwoLeg never relays from one leg to the other.
fn dropped(line: &str) -> bool {
    const ATTRIBUTES: &[&str] = &[
        "crypto",
        "rtcp",
        "rtcp-mux",
        "rtcp-rsize",
        "candidate",
        "remote-candidates",
        "end-of-candidates",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "ice-lite",
        "fingerprint",
        "setup",
        "encryption",
        "group",
        "x-candidate",
        "x-candidate-ipv6",
    ];
    if line.starts_with("c=") {
        return true;
    }
    let Some(attribute) = line.strip_prefix("a=") else {
        return false;
    };
    let name = attribute.split(':').next().unwrap_or_default();
    ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The description for a leg: session lines of `template` (origin and connection TwoLeg's),
/// then `sections` in order. Toward Microsoft Lync (`microsoft`), each section used says its
/// encryption level as Lync does (`a=encryption:required|optional|rejected`).
pub(crate) fn write(
    template: &SessionDescription,
    origin: &Origin,
    address: IpAddr,
    sections: &[SectionOut<'_>],
    microsoft: bool,
) -> Vec<u8> {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = SessionDescription {
        session: Vec::with_capacity(template.session.len() + 2),
        media: Vec::with_capacity(sections.len()),
    };
    let mut connection_written = false;
    let connection = format!("c=IN {family} {address}");
    for line in &template.session {
        if line.starts_with("o=") {
            out.session.push(format!(
                "o=twoleg {} {} IN {family} {address}",
                origin.session_id, origin.version
            ));
        } else if line.starts_with("t=") && !connection_written {
            out.session.push(connection.clone());
            out.session.push(line.clone());
            connection_written = true;
        } else if !dropped(line) {
            out.session.push(line.clone());
        }
    }
    if !connection_written {
        out.session.push(connection);
    }
    for section in sections {
        let source = section.source;
        let mut lines = Vec::new();
        if section.port != 0 {
            lines.extend(source.lines.iter().filter(|line| !dropped(line)).cloned());
            for crypto in &section.cryptos {
                let mut line = String::from("a=crypto:");
                // Writing to a String cannot fail.
                let _ = write!(line, "{crypto}");
                lines.push(line);
            }
            if microsoft && source.is_rtp() {
                let level = match (section.cryptos.is_empty(), section.secure_profile) {
                    (true, _) => "rejected",
                    (false, true) => "required",
                    (false, false) => "optional",
                };
                lines.push(format!("a=encryption:{level}"));
            }
        }
        out.media.push(MediaSection {
            kind: source.kind.clone(),
            port: section.port,
            proto: if source.is_rtp() {
                source.profile(section.secure_profile)
            } else {
                source.proto.clone()
            },
            formats: source.formats.clone(),
            lines,
        });
    }
    out.to_bytes()
}

/// An answer that declines every stream of `offer` (each `m=` line with port 0, RFC 3264
/// §6): what an ACK carries when a 2xx brought an offer and no answer can be had (RFC 3261
/// §13.2.2.4: the ACK MUST carry one, and a BYE follows). `None` when the offer is not SDP.
pub(crate) fn decline_all(offer: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(offer).ok()?;
    if !text.trim_start().starts_with("v=0") {
        return None;
    }
    let mut out =
        String::from("v=0\r\no=twoleg 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n");
    for line in text.lines().filter_map(|line| line.strip_prefix("m=")) {
        let mut fields = line.split_ascii_whitespace();
        let (Some(media), Some(_port), Some(proto)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let formats: Vec<&str> = fields.collect();
        // Writing to a String cannot fail.
        let _ = write!(out, "m={media} 0 {proto} {}\r\n", formats.join(" "));
    }
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use twoleg_srtp::{MasterKey, Suite};

    use super::*;

    const OFFER: &str = "v=0\r\no=alice 77 1 IN IP4 10.0.0.1\r\ns=call\r\nc=IN IP4 10.0.0.1\r\n\
        t=0 0\r\na=ice-ufrag:x\r\na=group:BUNDLE 0 1\r\n\
        m=audio 4000 RTP/SAVP 0 101\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:0 PCMU/8000\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
        a=rtcp:4001\r\na=rtcp-mux\r\na=candidate:1 1 UDP 1 10.0.0.1 4000 typ host\r\n\
        a=x-custom:kept\r\na=sendonly\r\nm=video 4002 RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\n";

    #[test]
    fn the_other_leg_s_description_is_rewritten_line_by_line() {
        let offer = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        let key = MasterKey::new(Suite::AesCm128HmacSha1_32, vec![3; 30], None).unwrap();
        let own = Crypto {
            tag: 1,
            key,
            session_params: Vec::new(),
        };
        let sections = [
            SectionOut {
                source: &offer.media[0],
                port: 36_000,
                secure_profile: false,
                cryptos: vec![own.clone()],
            },
            SectionOut {
                source: &offer.media[1],
                port: 0,
                secure_profile: false,
                cryptos: Vec::new(),
            },
        ];
        let origin = Origin {
            session_id: 42,
            version: 3,
        };
        let out = write(
            &offer,
            &origin,
            "192.0.2.1".parse().unwrap(),
            &sections,
            false,
        );
        let out = String::from_utf8(out).unwrap();
        let expected = format!(
            "v=0\r\no=twoleg 42 3 IN IP4 192.0.2.1\r\ns=call\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 36000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=x-custom:kept\r\n\
             a=sendonly\r\na=crypto:{own}\r\nm=video 0 RTP/AVPF 96\r\n"
        );
        assert_eq!(out, expected);
        assert!(
            !out.contains("WVNf"),
            "the peer's key never crosses to the other leg"
        );
    }

    #[test]
    fn a_description_without_connection_or_timing_gets_one_connection() {
        let offer =
            SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 ::1\r\nm=audio 1 RTP/AVP 0\r\n")
                .unwrap();
        let sections = [SectionOut {
            source: &offer.media[0],
            port: 36_002,
            secure_profile: true,
            cryptos: Vec::new(),
        }];
        let origin = Origin {
            session_id: 1,
            version: 1,
        };
        let out = write(
            &offer,
            &origin,
            "2001:db8::1".parse().unwrap(),
            &sections,
            false,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "v=0\r\no=twoleg 1 1 IN IP6 2001:db8::1\r\nc=IN IP6 2001:db8::1\r\n\
             m=audio 36002 RTP/SAVP 0\r\n"
        );
    }

    #[test]
    fn toward_lync_each_section_says_its_encryption_level() {
        let offer = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        let key = MasterKey::new(Suite::AesCm128HmacSha1_80, vec![5; 30], None).unwrap();
        let own = Crypto {
            tag: 1,
            key,
            session_params: Vec::new(),
        };
        let origin = Origin {
            session_id: 7,
            version: 1,
        };
        let level = |secure_profile, cryptos: Vec<Crypto>| {
            let sections = [SectionOut {
                source: &offer.media[0],
                port: 56_000,
                secure_profile,
                cryptos,
            }];
            let out = write(
                &offer,
                &origin,
                "192.0.2.1".parse().unwrap(),
                &sections,
                true,
            );
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out.matches("a=encryption:").count(), 1, "{out}");
            out.lines()
                .find_map(|line| line.strip_prefix("a=encryption:"))
                .map(str::to_owned)
        };
        assert_eq!(level(true, vec![own.clone()]).as_deref(), Some("required"));
        assert_eq!(level(false, vec![own]).as_deref(), Some("optional"));
        assert_eq!(level(false, Vec::new()).as_deref(), Some("rejected"));
    }

    #[test]
    fn declining_an_offer_keeps_every_stream_at_port_zero_and_a_non_sdp_body_has_none() {
        let offer = b"v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                      m=audio 4000 RTP/SAVP 0 101\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n\
                      m=application 5000 UDP/BFCP *\r\n";
        let declined = String::from_utf8(decline_all(offer).unwrap()).unwrap();
        let media: Vec<&str> = declined.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            media,
            ["m=audio 0 RTP/SAVP 0 101", "m=application 0 UDP/BFCP *"]
        );
        assert!(!declined.contains("crypto"));
        assert_eq!(decline_all(b"--boundary\r\n"), None);
    }
}
