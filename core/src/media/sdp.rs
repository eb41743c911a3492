//! A line-preserving SDP model (RFC 8866): session lines, then media sections, each kept as the
//! lines it arrived with, so that TwoLeg rewrites what it must (`o=`, `c=`, `m=` ports and
//! profiles, `a=crypto`, `a=rtcp`) and relays every other line in its order.

use std::fmt::Write;
use std::net::IpAddr;

use twoleg_srtp::{Crypto, CryptoError};

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionDescription {
    /// The lines before the first `m=` (`v=`, `o=`, `s=`, `c=`, `t=`, session attributes).
    pub(crate) session: Vec<String>,
    /// The media sections in order.
    pub(crate) media: Vec<MediaSection>,
}

/// One `m=` line and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MediaSection {
    /// `audio`, `video`, `application`...
    pub(crate) kind: String,
    /// The port (0: the stream is rejected or disabled).
    pub(crate) port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`...
    pub(crate) proto: String,
    /// The formats (payload types), as written.
    pub(crate) formats: Vec<String>,
    /// The lines after the `m=` line.
    pub(crate) lines: Vec<String>,
}

/// Why a body is not a session description TwoLeg can work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SdpError {
    /// Not UTF-8, or no `v=0` first.
    #[error("the body is not an SDP session description")]
    NotSdp,
    /// An `m=` line without kind, port, protocol and a format.
    #[error("a malformed m= line")]
    BadMediaLine,
}

impl SessionDescription {
    /// Reads an SDP body (CRLF or LF line ends; empty lines dropped).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotSdp)?;
        let mut lines = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty());
        if lines.clone().next() != Some("v=0") {
            return Err(SdpError::NotSdp);
        }
        let mut sdp = Self {
            session: Vec::new(),
            media: Vec::new(),
        };
        for line in lines.by_ref() {
            if let Some(rest) = line.strip_prefix("m=") {
                sdp.media.push(MediaSection::parse(rest)?);
            } else if let Some(section) = sdp.media.last_mut() {
                section.lines.push(line.to_owned());
            } else {
                sdp.session.push(line.to_owned());
            }
        }
        Ok(sdp)
    }

    /// The body, CRLF line ends.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for line in &self.session {
            out.push_str(line);
            out.push_str("\r\n");
        }
        for section in &self.media {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "m={} {} {} {}\r\n",
                section.kind,
                section.port,
                section.proto,
                section.formats.join(" ")
            );
            for line in &section.lines {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.into_bytes()
    }

    /// The session-level connection address.
    pub(crate) fn session_connection(&self) -> Option<IpAddr> {
        self.session.iter().find_map(|line| connection(line))
    }

    /// Where a section's media goes: its own `c=` address, else the session's.
    pub(crate) fn connection_of(&self, section: &MediaSection) -> Option<IpAddr> {
        section
            .lines
            .iter()
            .find_map(|line| connection(line))
            .or_else(|| self.session_connection())
    }

    /// A session-level attribute's value (`a=name:value`), or `Some("")` for a flag.
    pub(crate) fn session_attribute(&self, name: &str) -> Option<&str> {
        attribute(&self.session, name)
    }
}

impl MediaSection {
    fn parse(rest: &str) -> Result<Self, SdpError> {
        let mut fields = rest.split_ascii_whitespace();
        let (Some(kind), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(SdpError::BadMediaLine);
        };
        let port = port
            .split('/')
            .next()
            .and_then(|port| port.parse().ok())
            .ok_or(SdpError::BadMediaLine)?;
        let formats: Vec<String> = fields.map(str::to_owned).collect();
        if formats.is_empty() {
            return Err(SdpError::BadMediaLine);
        }
        Ok(Self {
            kind: kind.to_owned(),
            port,
            proto: proto.to_owned(),
            formats,
            lines: Vec::new(),
        })
    }

    /// Whether its profile is a secure one (`RTP/SAVP`, `RTP/SAVPF`).
    pub(crate) fn is_savp(&self) -> bool {
        self.proto.to_ascii_uppercase().starts_with("RTP/SAVP")
    }

    /// Whether it carries RTP at all (as opposed to, say, `UDP/BFCP`).
    pub(crate) fn is_rtp(&self) -> bool {
        self.proto.to_ascii_uppercase().starts_with("RTP/")
    }

    /// An attribute's value (`a=name:value`), or `Some("")` for a flag (`a=rtcp-mux`).
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        attribute(&self.lines, name)
    }

    /// Its `a=crypto` lines, read (a suite TwoLeg does not speak is an error the caller skips).
    pub(crate) fn cryptos(&self) -> Vec<Result<Crypto, CryptoError>> {
        self.lines
            .iter()
            .filter_map(|line| line.strip_prefix("a=crypto:"))
            .map(Crypto::parse)
            .collect()
    }

    /// The profile with the `S` of SRTP put in or taken out: `RTP/AVP` and `RTP/SAVP`,
    /// `RTP/AVPF` and `RTP/SAVPF`.
    pub(crate) fn profile(&self, secure: bool) -> String {
        let feedback = self.proto.to_ascii_uppercase().ends_with('F');
        match (secure, feedback) {
            (true, true) => "RTP/SAVPF",
            (true, false) => "RTP/SAVP",
            (false, true) => "RTP/AVPF",
            (false, false) => "RTP/AVP",
        }
        .to_owned()
    }
}

fn connection(line: &str) -> Option<IpAddr> {
    let rest = line.strip_prefix("c=")?;
    rest.split_whitespace()
        .nth(2)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn attribute<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let rest = line.strip_prefix("a=")?;
        match rest.split_once(':') {
            Some((key, value)) if key.eq_ignore_ascii_case(name) => Some(value),
            None if rest.eq_ignore_ascii_case(name) => Some(""),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31|1:1\r\n\
        a=crypto:2 F8_128_HMAC_SHA1_80 inline:AAAA\r\na=sendonly\r\n\
        m=video 4002/2 RTP/AVPF 96\r\nc=IN IP4 10.0.0.2\r\na=rtcp-mux\r\n";

    #[test]
    fn every_line_survives_a_round_trip_in_order() {
        let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.session.len(), 5);
        assert_eq!(sdp.media.len(), 2);
        let written = String::from_utf8(sdp.to_bytes()).unwrap();
        assert_eq!(written, OFFER.replace("4002/2", "4002"));
        let lf_only = SessionDescription::parse(OFFER.replace("\r\n", "\n").as_bytes()).unwrap();
        assert_eq!(lf_only, sdp);
    }

    #[test]
    fn sections_answer_what_the_policy_asks() {
        let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        let (audio, video) = (&sdp.media[0], &sdp.media[1]);
        assert!(audio.is_savp() && !video.is_savp());
        assert_eq!(audio.attribute("sendonly"), Some(""));
        assert_eq!(video.attribute("rtcp-mux"), Some(""));
        assert_eq!(audio.attribute("rtpmap"), Some("0 PCMU/8000"));
        assert_eq!(sdp.connection_of(audio), "10.0.0.1".parse().ok());
        assert_eq!(sdp.connection_of(video), "10.0.0.2".parse().ok());
        let cryptos = audio.cryptos();
        assert_eq!(cryptos.len(), 2);
        assert_eq!(cryptos[0].as_ref().unwrap().tag, 1);
        assert!(matches!(cryptos[1], Err(CryptoError::UnknownSuite(_))));
        assert_eq!(audio.profile(false), "RTP/AVP");
        assert_eq!(video.profile(true), "RTP/SAVPF");
    }

    #[test]
    fn what_is_not_sdp_says_so() {
        assert_eq!(SessionDescription::parse(b"hello"), Err(SdpError::NotSdp));
        assert_eq!(
            SessionDescription::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::BadMediaLine)
        );
        assert_eq!(
            SessionDescription::parse(b"v=0\r\nm=audio 4000 RTP/AVP\r\n"),
            Err(SdpError::BadMediaLine)
        );
    }
}
