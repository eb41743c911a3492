//! SRTP (RFC 3711 §3, RFC 7714 §8): protecting and unprotecting RTP packets.

use aes::Aes128;
use aes::cipher::{InnerIvInit, StreamCipher};
use aes_gcm::aead::AeadInPlace;
use hmac::Mac;

use crate::Error;
use crate::context::{Context, Session};
use crate::replay::{ReplayWindow, estimate_index};

/// The length of an RTP packet's header: fixed part, CSRCs and extension.
pub(crate) fn header_len(packet: &[u8]) -> Result<usize, Error> {
    if packet.len() < 12 {
        return Err(Error::TooShort { len: packet.len() });
    }
    if packet[0] >> 6 != 2 {
        return Err(Error::Malformed);
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4).ok_or(Error::Malformed)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    if len > packet.len() {
        return Err(Error::Malformed);
    }
    Ok(len)
}

fn seq_and_ssrc(packet: &[u8]) -> (u16, u32) {
    (
        u16::from_be_bytes([packet[2], packet[3]]),
        u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    )
}

/// AES in counter mode from `iv`, with the session key's schedule already expanded.
pub(crate) fn keystream(cipher: &Aes128, iv: [u8; 16]) -> ctr::Ctr128BE<Aes128> {
    ctr::Ctr128BE::from_core(ctr::CtrCore::inner_iv_init(cipher.clone(), &iv.into()))
}

/// The AES-CM IV (RFC 3711 §4.1.1): salt, then SSRC and index XORed in.
pub(crate) fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (byte, value) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *byte ^= value;
    }
    for (byte, value) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *byte ^= value;
    }
    iv
}

/// The AES-GCM IV of an SRTP packet (RFC 7714 §8.1).
fn gcm_iv(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    for (byte, salt) in iv.iter_mut().zip(salt) {
        *byte ^= salt;
    }
    iv
}

impl Context {
    /// SRTP from an RTP packet: payload encrypted, MKI and tag added.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let header = header_len(packet)?;
        if self.rtp_protected >= self.lifetime {
            return Err(Error::KeyExhausted);
        }
        let (seq, ssrc) = seq_and_ssrc(packet);
        let index = match self.rtp_streams.get(&ssrc) {
            Some(window) => estimate_index(window.top(), seq).unwrap_or_else(|| u64::from(seq)),
            None => u64::from(seq),
        };
        let mut out = Vec::with_capacity(packet.len() + self.mki_len() + 16);
        out.extend_from_slice(packet);
        match &self.rtp {
            Session::Cm { cipher, salt, mac } => {
                let iv = cm_iv(salt, ssrc, index);
                keystream(cipher, iv).apply_keystream(&mut out[header..]);
                let mut mac = mac.clone();
                mac.update(&out);
                mac.update(&((index >> 16) as u32).to_be_bytes());
                let tag = mac.finalize().into_bytes();
                if let Some(mki) = &self.mki {
                    out.extend_from_slice(mki);
                }
                out.extend_from_slice(&tag[..self.suite.rtp_overhead()]);
            }
            Session::Gcm { aead, salt } => {
                let iv = gcm_iv(salt, ssrc, index);
                let (aad, payload) = out.split_at_mut(header);
                let tag = aead
                    .encrypt_in_place_detached(&iv.into(), aad, payload)
                    .map_err(|_| Error::Malformed)?;
                out.extend_from_slice(&tag);
                if let Some(mki) = &self.mki {
                    out.extend_from_slice(mki);
                }
            }
        }
        self.rtp_protected += 1;
        match self.rtp_streams.get_mut(&ssrc) {
            Some(window) => window.accept(index),
            None => {
                self.rtp_streams.insert(ssrc, ReplayWindow::new(index));
            }
        }
        Ok(out)
    }

    /// RTP from an SRTP packet: MKI checked, tag verified, replay refused, payload decrypted.
    /// A packet that fails changes nothing.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mki_len = self.mki_len();
        let tag_len = self.suite.rtp_overhead();
        if packet.len() < 12 + mki_len + tag_len {
            return Err(Error::TooShort { len: packet.len() });
        }
        let (seq, ssrc) = seq_and_ssrc(packet);
        let window = self.rtp_streams.get(&ssrc).copied();
        let index = match &window {
            Some(window) => {
                let index = estimate_index(window.top(), seq).ok_or_else(|| Error::TooOld {
                    index: u64::from(seq),
                })?;
                window.check(index)?;
                index
            }
            None => u64::from(seq),
        };
        let out = match &self.rtp {
            Session::Cm { cipher, salt, mac } => {
                let body_len = packet.len() - mki_len - tag_len;
                let (body, rest) = packet.split_at(body_len);
                let (mki, tag) = rest.split_at(mki_len);
                if self.mki.as_deref().is_some_and(|own| own != mki) {
                    return Err(Error::UnknownMki);
                }
                let header = header_len(body)?;
                let mut mac = mac.clone();
                mac.update(body);
                mac.update(&((index >> 16) as u32).to_be_bytes());
                mac.verify_truncated_left(tag)
                    .map_err(|_| Error::AuthenticationFailed)?;
                let mut out = body.to_vec();
                let iv = cm_iv(salt, ssrc, index);
                keystream(cipher, iv).apply_keystream(&mut out[header..]);
                out
            }
            Session::Gcm { aead, salt } => {
                let sealed_len = packet.len() - mki_len;
                let (sealed, mki) = packet.split_at(sealed_len);
                if self.mki.as_deref().is_some_and(|own| own != mki) {
                    return Err(Error::UnknownMki);
                }
                let (body, tag) = sealed.split_at(sealed_len - tag_len);
                let header = header_len(body)?;
                let mut out = body.to_vec();
                let (aad, payload) = out.split_at_mut(header);
                aead.decrypt_in_place_detached(
                    &gcm_iv(salt, ssrc, index).into(),
                    aad,
                    payload,
                    tag.into(),
                )
                .map_err(|_| Error::AuthenticationFailed)?;
                out
            }
        };
        match self.rtp_streams.get_mut(&ssrc) {
            Some(window) => window.accept(index),
            None => {
                self.rtp_streams.insert(ssrc, ReplayWindow::new(index));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::hex;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f";
    const SALT: &str = "517569642070726f2071756f";
    const RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                       20646976 69736120 696e2070 61727465 73207472 6573";
    /// RFC 7714 §16.1.1.
    const SRTP: &str = "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca
                        be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1
                        6a9152cf 765ee439 0cce";

    #[test]
    fn rfc_7714_srtp_vector() {
        let mut sender = Context::gcm_session(&hex(KEY), &hex(SALT));
        assert_eq!(sender.protect_rtp(&hex(RTP)).unwrap(), hex(SRTP));
        let mut receiver = Context::gcm_session(&hex(KEY), &hex(SALT));
        assert_eq!(receiver.unprotect_rtp(&hex(SRTP)).unwrap(), hex(RTP));
        let mut tampered = hex(SRTP);
        tampered[20] ^= 1;
        let mut fresh = Context::gcm_session(&hex(KEY), &hex(SALT));
        assert_eq!(
            fresh.unprotect_rtp(&tampered),
            Err(Error::AuthenticationFailed)
        );
    }

    #[test]
    fn rfc_7714_iv() {
        let iv = gcm_iv(&hex(SALT).try_into().unwrap(), 0x5501_a0b2, 0xf17b);
        assert_eq!(iv.to_vec(), hex("51753c6580c2726f20718414"));
    }

    #[test]
    fn headers_with_csrcs_and_extensions_are_measured() {
        let mut packet = vec![0x92, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        packet.extend_from_slice(&[0; 8]); // two CSRCs
        packet.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one extension word
        packet.extend_from_slice(b"payload");
        assert_eq!(header_len(&packet), Ok(12 + 8 + 8));
        assert_eq!(header_len(&packet[..25]), Err(Error::Malformed));
        assert_eq!(header_len(&[0x40; 12]), Err(Error::Malformed));
        assert_eq!(header_len(&[0x80; 5]), Err(Error::TooShort { len: 5 }));
    }
}
