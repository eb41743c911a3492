//! Session keys from a master key: the AES-CM PRF of RFC 3711 §4.3 (also RFC 7714's, with its
//! 96-bit master salt zero-padded to 112 bits).

use aes::Aes128;
use aes::cipher::{KeyIvInit, StreamCipher};
use zeroize::Zeroizing;

use crate::MasterKey;

/// What a session key is for (RFC 3711 §4.3.2).
#[derive(Clone, Copy)]
pub(crate) enum Label {
    RtpEncryption = 0,
    RtpAuthentication = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuthentication = 4,
    RtcpSalt = 5,
}

/// `len` bytes of the session key for `label` (key derivation rate 0).
pub(crate) fn derive(master: &MasterKey, label: Label, len: usize) -> Zeroizing<Vec<u8>> {
    let mut iv = [0u8; 16];
    iv[..master.salt().len()].copy_from_slice(master.salt());
    iv[7] ^= label as u8;
    let mut out = Zeroizing::new(vec![0u8; len]);
    let mut prf = ctr::Ctr128BE::<Aes128>::new(master.key().into(), &iv.into());
    prf.apply_keystream(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Suite;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3711 Appendix B.3.
    #[test]
    fn rfc_3711_key_derivation_vectors() {
        let material = [
            hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            hex("0EC675AD498AFEEBB6960B3AABE6"),
        ]
        .concat();
        let master = MasterKey::new(Suite::AesCm128HmacSha1_80, material, None).unwrap();
        assert_eq!(
            *derive(&master, Label::RtpEncryption, 16),
            hex("C61E7A93744F39EE10734AFE3FF7A087")
        );
        assert_eq!(
            *derive(&master, Label::RtpSalt, 14),
            hex("30CBBC08863D8C85D49DB34A9AE1")
        );
        assert_eq!(
            *derive(&master, Label::RtpAuthentication, 94),
            hex(concat!(
                "CEBE321F6FF7716B6FD4AB49AF256A15",
                "6D38BAA48F0A0ACF3C34E2359E6CDBCE",
                "E049646C43D9327AD175578EF7227098",
                "6371C10C9A369AC2F94A8C5FBCDDDC25",
                "6D6E919A48B610EF17C2041E47403576",
                "6B68642C59BBFC2F34DB60DBDFB2"
            ))
        );
    }
}
