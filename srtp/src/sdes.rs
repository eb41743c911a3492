//! SDES `a=crypto` attributes (RFC 4568 §9.1): `tag suite inline:KEY||SALT[|lifetime][|mki:length]`
//! and optional session parameters, as peers write them (Lync: `|2^31|1:1`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::{MasterKey, Suite};

/// One `a=crypto` attribute. Its `Debug` never shows the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// The tag the answer echoes.
    pub tag: u32,
    /// The key, with its suite, MKI and lifetime.
    pub key: MasterKey,
    /// Session parameters (`UNENCRYPTED_SRTCP`, `KDR=`...), kept as written.
    pub session_params: Vec<String>,
}

/// Why an `a=crypto` value cannot be used.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// No tag, suite or key parameter.
    #[error("a=crypto needs a tag, a suite and a key")]
    MissingField,
    /// The tag is not a number.
    #[error("a=crypto tag {0:?} is not a number")]
    BadTag(String),
    /// A suite TwoLeg does not speak (the line is skipped, not an error of the SDP).
    #[error("unsupported crypto suite {0}")]
    UnknownSuite(String),
    /// The key method is not `inline`.
    #[error("a=crypto key method is not inline")]
    NotInline,
    /// The key is not base64 of the suite's key and salt length.
    #[error("a=crypto key is not base64 of {expected} bytes")]
    BadKey {
        /// The bytes the suite needs.
        expected: usize,
    },
    /// The lifetime is neither a number nor `2^N`.
    #[error("a=crypto lifetime {0:?} is not a number or 2^N")]
    BadLifetime(String),
    /// The MKI is not `value:length` with a length of 1 to 8 bytes that holds the value.
    #[error("a=crypto MKI {0:?} is not value:length (1 to 8 bytes)")]
    BadMki(String),
}

impl Crypto {
    /// Reads the value of an `a=crypto` attribute (what follows `a=crypto:`). Only the first
    /// key parameter is used.
    pub fn parse(value: &str) -> Result<Self, CryptoError> {
        let mut fields = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(key_params)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(CryptoError::MissingField);
        };
        let tag = tag
            .parse()
            .map_err(|_| CryptoError::BadTag(tag.to_owned()))?;
        let suite: Suite = suite
            .parse()
            .map_err(|_| CryptoError::UnknownSuite(suite.to_owned()))?;
        let key_param = key_params.split(';').next().unwrap_or_default();
        let inline = key_param
            .strip_prefix("inline:")
            .ok_or(CryptoError::NotInline)?;
        let mut parts = inline.split('|');
        let expected = suite.key_len() + suite.salt_len();
        let material = STANDARD
            .decode(parts.next().unwrap_or_default())
            .map_err(|_| CryptoError::BadKey { expected })?;
        let mut lifetime = None;
        let mut mki = None;
        for part in parts {
            if part.contains(':') {
                mki = Some(parse_mki(part)?);
            } else {
                lifetime = Some(parse_lifetime(part)?);
            }
        }
        let mut key =
            MasterKey::new(suite, material, mki).map_err(|_| CryptoError::BadKey { expected })?;
        if let Some(lifetime) = lifetime {
            key = key.with_lifetime(lifetime);
        }
        Ok(Self {
            tag,
            key,
            session_params: fields.map(str::to_owned).collect(),
        })
    }

    /// Its suite.
    pub fn suite(&self) -> Suite {
        self.key.suite()
    }
}

fn parse_lifetime(text: &str) -> Result<u64, CryptoError> {
    let bad = || CryptoError::BadLifetime(text.to_owned());
    match text.strip_prefix("2^") {
        Some(power) => power
            .parse::<u32>()
            .ok()
            .filter(|power| *power < 64)
            .map(|power| 1u64 << power)
            .ok_or_else(bad),
        None => text.parse().map_err(|_| bad()),
    }
}

fn parse_mki(text: &str) -> Result<Vec<u8>, CryptoError> {
    let bad = || CryptoError::BadMki(text.to_owned());
    let (value, length) = text.split_once(':').ok_or_else(bad)?;
    let value: u64 = value.parse().map_err(|_| bad())?;
    let length: usize = length.parse().map_err(|_| bad())?;
    if !(1..=8).contains(&length) || (length < 8 && value >> (8 * length) != 0) {
        return Err(bad());
    }
    Ok(value.to_be_bytes()[8 - length..].to_vec())
}

impl fmt::Display for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} inline:{}",
            self.tag,
            self.suite(),
            STANDARD.encode(self.key.material())
        )?;
        if let Some(lifetime) = self.key.lifetime() {
            if lifetime.is_power_of_two() && lifetime >= 1 << 10 {
                write!(f, "|2^{}", lifetime.trailing_zeros())?;
            } else {
                write!(f, "|{lifetime}")?;
            }
        }
        if let Some(mki) = self.key.mki() {
            let value = mki
                .iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
            write!(f, "|{value}:{}", mki.len())?;
        }
        for param in &self.session_params {
            write!(f, " {param}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LYNC: &str =
        "2 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31|1:1";

    #[test]
    fn lync_s_line_reads_and_writes_back() {
        let crypto = Crypto::parse(LYNC).unwrap();
        assert_eq!(crypto.tag, 2);
        assert_eq!(crypto.suite(), Suite::AesCm128HmacSha1_80);
        assert_eq!(crypto.key.lifetime(), Some(1 << 31));
        assert_eq!(crypto.key.mki(), Some(&[1u8][..]));
        assert_eq!(crypto.to_string(), LYNC);
    }

    #[test]
    fn gcm_keys_are_28_bytes_and_params_are_kept() {
        let value = format!(
            "1 AEAD_AES_128_GCM inline:{} UNENCRYPTED_SRTCP",
            STANDARD.encode([9u8; 28])
        );
        let crypto = Crypto::parse(&value).unwrap();
        assert_eq!(crypto.suite(), Suite::AeadAes128Gcm);
        assert_eq!(crypto.session_params, ["UNENCRYPTED_SRTCP"]);
        assert_eq!(crypto.to_string(), value);
        let short = format!("1 AEAD_AES_128_GCM inline:{}", STANDARD.encode([9u8; 30]));
        assert_eq!(
            Crypto::parse(&short),
            Err(CryptoError::BadKey { expected: 28 })
        );
    }

    #[test]
    fn bad_lines_say_why() {
        assert_eq!(Crypto::parse("1"), Err(CryptoError::MissingField));
        assert_eq!(
            Crypto::parse("1 F8_128_HMAC_SHA1_80 inline:AAAA"),
            Err(CryptoError::UnknownSuite("F8_128_HMAC_SHA1_80".to_owned()))
        );
        assert_eq!(
            Crypto::parse("x AES_CM_128_HMAC_SHA1_32 inline:AAAA"),
            Err(CryptoError::BadTag("x".to_owned()))
        );
        assert_eq!(
            Crypto::parse("1 AES_CM_128_HMAC_SHA1_32 uri:sip:x"),
            Err(CryptoError::NotInline)
        );
        let key = STANDARD.encode([1u8; 30]);
        assert_eq!(
            Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_32 inline:{key}|2^99")),
            Err(CryptoError::BadLifetime("2^99".to_owned()))
        );
        assert_eq!(
            Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_32 inline:{key}|300:1")),
            Err(CryptoError::BadMki("300:1".to_owned()))
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let crypto = Crypto::parse(LYNC).unwrap();
        let debug = format!("{crypto:?}");
        assert!(!debug.contains("WVNf"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }
}
