//! One direction's SRTP state: the session keys of one master key, and per SSRC the rollover
//! counter and replay window.

use std::collections::BTreeMap;
use std::fmt;

use aes::Aes128;
use aes::cipher::KeyInit;
use aes_gcm::Aes128Gcm;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::kdf::{self, Label};
use crate::replay::ReplayWindow;
use crate::{MasterKey, Suite};

/// SRTP and SRTCP with one master key, for one direction: protect what TwoLeg sends with its
/// own key, or unprotect what a peer sends with the peer's.
pub struct Context {
    pub(crate) suite: Suite,
    pub(crate) mki: Option<Vec<u8>>,
    /// Packets a key may protect, per kind.
    pub(crate) lifetime: u64,
    pub(crate) rtp: Session,
    pub(crate) rtcp: Session,
    /// Per SSRC: the highest RTP index protected or authenticated, and the window behind it.
    pub(crate) rtp_streams: BTreeMap<u32, ReplayWindow>,
    /// Per SSRC: the last SRTCP index sent, or the window of those received.
    pub(crate) rtcp_streams: BTreeMap<u32, ReplayWindow>,
    pub(crate) rtp_protected: u64,
    pub(crate) rtcp_protected: u64,
}

/// The session keys of one kind (RTP or RTCP), ready to use.
pub(crate) enum Session {
    /// AES counter mode and HMAC-SHA1.
    Cm {
        cipher: Aes128,
        salt: [u8; 14],
        mac: Hmac<Sha1>,
    },
    /// AES-GCM.
    Gcm { aead: Aes128Gcm, salt: [u8; 12] },
}

/// RFC 3711's default: 2^48 SRTP packets per key.
const RTP_LIFETIME: u64 = 1 << 48;

impl Context {
    /// A context for `key`: session keys derived, no SSRC seen yet.
    pub fn new(key: &MasterKey) -> Self {
        let suite = key.suite();
        let (rtp, rtcp) = if suite.is_aead() {
            (
                Session::gcm(key, Label::RtpEncryption, Label::RtpSalt),
                Session::gcm(key, Label::RtcpEncryption, Label::RtcpSalt),
            )
        } else {
            (
                Session::cm(
                    key,
                    Label::RtpEncryption,
                    Label::RtpAuthentication,
                    Label::RtpSalt,
                ),
                Session::cm(
                    key,
                    Label::RtcpEncryption,
                    Label::RtcpAuthentication,
                    Label::RtcpSalt,
                ),
            )
        };
        Self {
            suite,
            mki: key.mki().map(<[u8]>::to_vec),
            lifetime: key.lifetime().unwrap_or(RTP_LIFETIME),
            rtp,
            rtcp,
            rtp_streams: BTreeMap::new(),
            rtcp_streams: BTreeMap::new(),
            rtp_protected: 0,
            rtcp_protected: 0,
        }
    }

    /// Its suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// SSRCs it has protected or authenticated RTP for.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.rtp_streams.keys().copied()
    }

    pub(crate) fn mki_len(&self) -> usize {
        self.mki.as_ref().map_or(0, Vec::len)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .field("ssrcs", &self.rtp_streams.len())
            .field("rtp_protected", &self.rtp_protected)
            .field("rtcp_protected", &self.rtcp_protected)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn cm(key: &MasterKey, encryption: Label, authentication: Label, salt: Label) -> Self {
        let session_key = kdf::derive(key, encryption, 16);
        let auth_key = kdf::derive(key, authentication, 20);
        let session_salt = kdf::derive(key, salt, 14);
        Self::Cm {
            cipher: Aes128::new(session_key.as_slice().into()),
            salt: session_salt
                .as_slice()
                .try_into()
                .expect("14 bytes derived"),
            mac: <Hmac<Sha1> as Mac>::new_from_slice(&auth_key).expect("HMAC takes any key length"),
        }
    }

    fn gcm(key: &MasterKey, encryption: Label, salt: Label) -> Self {
        let session_key = kdf::derive(key, encryption, 16);
        let session_salt = kdf::derive(key, salt, 12);
        Self::Gcm {
            aead: Aes128Gcm::new(session_key.as_slice().into()),
            salt: session_salt
                .as_slice()
                .try_into()
                .expect("12 bytes derived"),
        }
    }
}

#[cfg(test)]
impl Context {
    /// An AES-GCM context with the session key and salt given directly (RFC 7714's vectors
    /// start there, after the key derivation).
    pub(crate) fn gcm_session(key: &[u8], salt: &[u8]) -> Self {
        let master = MasterKey::new(Suite::AeadAes128Gcm, [0u8; 28].to_vec(), None).unwrap();
        let mut context = Self::new(&master);
        let session = || Session::Gcm {
            aead: Aes128Gcm::new(key.into()),
            salt: salt.try_into().unwrap(),
        };
        context.rtp = session();
        context.rtcp = session();
        context
    }
}

#[cfg(test)]
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
