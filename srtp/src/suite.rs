//! The crypto suites TwoLeg speaks, with their SDES names and sizes.

use std::fmt;
use std::str::FromStr;

/// An SRTP crypto suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// `AES_CM_128_HMAC_SHA1_80` (RFC 4568): AES counter mode, 80-bit HMAC-SHA1 tags.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: as above with 32-bit tags on SRTP (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
    /// `AEAD_AES_128_GCM` (RFC 7714): AES-GCM with 128-bit tags.
    AeadAes128Gcm,
}

impl Suite {
    /// Every suite, in TwoLeg's order of preference for offers.
    pub const ALL: [Self; 3] = [
        Self::AeadAes128Gcm,
        Self::AesCm128HmacSha1_80,
        Self::AesCm128HmacSha1_32,
    ];

    /// Its name in `a=crypto` lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// Master key length in bytes.
    pub fn key_len(self) -> usize {
        16
    }

    /// Master (and session) salt length in bytes.
    pub fn salt_len(self) -> usize {
        match self {
            Self::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    /// Bytes SRTP adds to an RTP packet (without MKI).
    pub fn rtp_overhead(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
            Self::AeadAes128Gcm => 16,
        }
    }

    /// Bytes SRTCP adds to an RTCP packet (E flag and index, tag; without MKI).
    pub fn rtcp_overhead(self) -> usize {
        4 + match self {
            Self::AeadAes128Gcm => 16,
            _ => 10,
        }
    }

    pub(crate) fn is_aead(self) -> bool {
        self == Self::AeadAes128Gcm
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suite name TwoLeg does not speak.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported crypto suite {0}")]
pub struct UnknownSuite(pub String);

impl FromStr for Suite {
    type Err = UnknownSuite;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|suite| suite.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownSuite(name.to_owned()))
    }
}
