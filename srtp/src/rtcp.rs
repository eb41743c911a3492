//! SRTCP (RFC 3711 §3.4, RFC 7714 §9): protecting and unprotecting RTCP compound packets.

use aes::cipher::StreamCipher;
use aes_gcm::aead::AeadInPlace;
use hmac::Mac;

use crate::Error;
use crate::context::{Context, Session};
use crate::replay::ReplayWindow;
use crate::rtp::{cm_iv, keystream};

/// The E flag of the SRTCP trailer: the payload is encrypted.
const ENCRYPTED: u32 = 0x8000_0000;
/// The largest SRTCP index.
const MAX_INDEX: u32 = 0x7fff_ffff;
/// SRTCP tags of the AES-CM suites: 80 bits whatever the SRTP tag (RFC 4568 §6.2).
const CM_TAG: usize = 10;
const GCM_TAG: usize = 16;

fn check_header(packet: &[u8]) -> Result<u32, Error> {
    if packet.len() < 8 {
        return Err(Error::TooShort { len: packet.len() });
    }
    if packet[0] >> 6 != 2 {
        return Err(Error::Malformed);
    }
    Ok(u32::from_be_bytes([
        packet[4], packet[5], packet[6], packet[7],
    ]))
}

/// The AES-GCM IV of an SRTCP packet (RFC 7714 §9.1).
fn gcm_iv(salt: &[u8; 12], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&index.to_be_bytes());
    for (byte, salt) in iv.iter_mut().zip(salt) {
        *byte ^= salt;
    }
    iv
}

impl Context {
    /// SRTCP from an RTCP compound packet: everything after the first header encrypted, the E
    /// flag and index, MKI and tag added. Indexes start at 1 per SSRC.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let ssrc = check_header(packet)?;
        if self.rtcp_protected >= self.lifetime {
            return Err(Error::KeyExhausted);
        }
        let index = self
            .rtcp_streams
            .get(&ssrc)
            .map_or(1, |window| window.top() + 1);
        let index = u32::try_from(index)
            .ok()
            .filter(|index| *index <= MAX_INDEX)
            .ok_or(Error::IndexExhausted)?;
        let trailer = (ENCRYPTED | index).to_be_bytes();
        let mut out = Vec::with_capacity(packet.len() + 4 + self.mki_len() + GCM_TAG);
        out.extend_from_slice(packet);
        match &self.rtcp {
            Session::Cm { cipher, salt, mac } => {
                let iv = cm_iv(salt, ssrc, u64::from(index));
                keystream(cipher, iv).apply_keystream(&mut out[8..]);
                out.extend_from_slice(&trailer);
                let mut mac = mac.clone();
                mac.update(&out);
                let tag = mac.finalize().into_bytes();
                if let Some(mki) = &self.mki {
                    out.extend_from_slice(mki);
                }
                out.extend_from_slice(&tag[..CM_TAG]);
            }
            Session::Gcm { aead, salt } => {
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&packet[..8]);
                aad[8..].copy_from_slice(&trailer);
                let tag = aead
                    .encrypt_in_place_detached(
                        &gcm_iv(salt, ssrc, index).into(),
                        &aad,
                        &mut out[8..],
                    )
                    .map_err(|_| Error::Malformed)?;
                out.extend_from_slice(&tag);
                out.extend_from_slice(&trailer);
                if let Some(mki) = &self.mki {
                    out.extend_from_slice(mki);
                }
            }
        }
        self.rtcp_protected += 1;
        match self.rtcp_streams.get_mut(&ssrc) {
            Some(window) => window.accept(u64::from(index)),
            None => {
                self.rtcp_streams
                    .insert(ssrc, ReplayWindow::new(u64::from(index)));
            }
        }
        Ok(out)
    }

    /// RTCP from an SRTCP packet: MKI checked, tag verified, replay refused, decrypted when
    /// the E flag says so. A packet that fails changes nothing.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mki_len = self.mki_len();
        let tag_len = if self.suite.is_aead() {
            GCM_TAG
        } else {
            CM_TAG
        };
        if packet.len() < 8 + 4 + mki_len + tag_len {
            return Err(Error::TooShort { len: packet.len() });
        }
        let ssrc = check_header(packet)?;
        let (out, index) = match &self.rtcp {
            Session::Cm { cipher, salt, mac } => {
                let authenticated_len = packet.len() - mki_len - tag_len;
                let (authenticated, rest) = packet.split_at(authenticated_len);
                let (mki, tag) = rest.split_at(mki_len);
                if self.mki.as_deref().is_some_and(|own| own != mki) {
                    return Err(Error::UnknownMki);
                }
                let (body, trailer) = authenticated.split_at(authenticated_len - 4);
                let trailer = u32::from_be_bytes(trailer.try_into().expect("4 bytes"));
                let index = trailer & MAX_INDEX;
                self.check_rtcp_index(ssrc, index)?;
                let mut mac = mac.clone();
                mac.update(authenticated);
                mac.verify_truncated_left(tag)
                    .map_err(|_| Error::AuthenticationFailed)?;
                let mut out = body.to_vec();
                if trailer & ENCRYPTED != 0 {
                    let iv = cm_iv(salt, ssrc, u64::from(index));
                    keystream(cipher, iv).apply_keystream(&mut out[8..]);
                }
                (out, index)
            }
            Session::Gcm { aead, salt } => {
                let end = packet.len() - mki_len;
                let (sealed, mki) = packet.split_at(end);
                if self.mki.as_deref().is_some_and(|own| own != mki) {
                    return Err(Error::UnknownMki);
                }
                let (sealed, trailer_bytes) = sealed.split_at(end - 4);
                let trailer = u32::from_be_bytes(trailer_bytes.try_into().expect("4 bytes"));
                let index = trailer & MAX_INDEX;
                self.check_rtcp_index(ssrc, index)?;
                let (body, tag) = sealed.split_at(sealed.len() - tag_len);
                let iv = gcm_iv(salt, ssrc, index).into();
                let mut out = body.to_vec();
                if trailer & ENCRYPTED != 0 {
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&body[..8]);
                    aad[8..].copy_from_slice(trailer_bytes);
                    aead.decrypt_in_place_detached(&iv, &aad, &mut out[8..], tag.into())
                        .map_err(|_| Error::AuthenticationFailed)?;
                } else {
                    // Authenticated only (RFC 7714 §9.3): the whole packet and trailer as AAD.
                    let aad = [body, trailer_bytes].concat();
                    aead.decrypt_in_place_detached(&iv, &aad, &mut [], tag.into())
                        .map_err(|_| Error::AuthenticationFailed)?;
                }
                (out, index)
            }
        };
        self.accept_rtcp_index(ssrc, index);
        Ok(out)
    }

    fn check_rtcp_index(&self, ssrc: u32, index: u32) -> Result<(), Error> {
        match self.rtcp_streams.get(&ssrc) {
            Some(window) => window.check(u64::from(index)),
            None => Ok(()),
        }
    }

    fn accept_rtcp_index(&mut self, ssrc: u32, index: u32) {
        match self.rtcp_streams.get_mut(&ssrc) {
            Some(window) => window.accept(u64::from(index)),
            None => {
                self.rtcp_streams
                    .insert(ssrc, ReplayWindow::new(u64::from(index)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::hex;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f";
    const SALT: &str = "517569642070726f2071756f";
    const RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                        4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";
    /// RFC 7714 §17.1 (SRTCP index 0x5d4).
    const SRTCP: &str = "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7
                         6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458
                         96cf4d2f c5abf872 45d9eade 800005d4";
    /// RFC 7714 §17.3: authenticated, not encrypted (E flag clear).
    const SRTCP_CLEAR: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                               4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968
                               3dd78ec9 2ae58790 125f62b3 000005d4";

    #[test]
    fn rfc_7714_srtcp_vectors() {
        let mut sender = Context::gcm_session(&hex(KEY), &hex(SALT));
        sender
            .rtcp_streams
            .insert(0x4d61_7273, ReplayWindow::new(0x5d3));
        assert_eq!(sender.protect_rtcp(&hex(RTCP)).unwrap(), hex(SRTCP));
        let mut receiver = Context::gcm_session(&hex(KEY), &hex(SALT));
        assert_eq!(receiver.unprotect_rtcp(&hex(SRTCP)).unwrap(), hex(RTCP));
        assert_eq!(
            receiver.unprotect_rtcp(&hex(SRTCP)),
            Err(Error::Replayed { index: 0x5d4 })
        );
        let mut receiver = Context::gcm_session(&hex(KEY), &hex(SALT));
        assert_eq!(
            receiver.unprotect_rtcp(&hex(SRTCP_CLEAR)).unwrap(),
            hex(RTCP)
        );
    }
}
