//! Reference packets: libsrtp's own validation packets (RFC 3711 key derivation through to the
//! wire: AES-CM with 80-bit tags, with and without a 4-byte MKI, and AES-GCM), through the
//! public API.

mod common;

use common::hex;
use twoleg_srtp::{Context, Error, MasterKey, Suite};

/// libsrtp's `test_key`: master key then salt.
const KEY: &str = "e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6";
const GCM_KEY: &str = "000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaab";
const RTP: &str = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
const RTCP: &str = "81c8000b cafebabe abababab abababab abababab abababab";

fn pair(key: &MasterKey) -> (Context, Context) {
    (Context::new(key), Context::new(key))
}

#[test]
fn aes_cm_80() {
    let key = MasterKey::new(Suite::AesCm128HmacSha1_80, hex(KEY), None).unwrap();
    let (mut sender, mut receiver) = pair(&key);
    let srtp = hex(
        "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402
                    b78d6acc 99ea179b 8dbb",
    );
    let srtcp = hex(
        "81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001
                     993e08cd 54d6c123 0798",
    );
    assert_eq!(sender.protect_rtp(&hex(RTP)).unwrap(), srtp);
    assert_eq!(sender.protect_rtcp(&hex(RTCP)).unwrap(), srtcp);
    assert_eq!(receiver.unprotect_rtp(&srtp).unwrap(), hex(RTP));
    assert_eq!(receiver.unprotect_rtcp(&srtcp).unwrap(), hex(RTCP));
}

#[test]
fn aes_cm_80_with_a_four_byte_mki() {
    let mki = hex("e1f97a0d");
    let key = MasterKey::new(Suite::AesCm128HmacSha1_80, hex(KEY), Some(mki)).unwrap();
    let (mut sender, mut receiver) = pair(&key);
    let srtp = hex(
        "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402
                    e1f97a0d b78d6acc 99ea179b 8dbb",
    );
    let srtcp = hex(
        "81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001
                     e1f97a0d 993e08cd 54d6c123 0798",
    );
    assert_eq!(sender.protect_rtp(&hex(RTP)).unwrap(), srtp);
    assert_eq!(sender.protect_rtcp(&hex(RTCP)).unwrap(), srtcp);
    assert_eq!(receiver.unprotect_rtp(&srtp).unwrap(), hex(RTP));
    assert_eq!(receiver.unprotect_rtcp(&srtcp).unwrap(), hex(RTCP));

    let other = MasterKey::new(Suite::AesCm128HmacSha1_80, hex(KEY), Some(hex("f3a14671")));
    let mut stranger = Context::new(&other.unwrap());
    assert_eq!(stranger.unprotect_rtp(&srtp), Err(Error::UnknownMki));
}

#[test]
fn aead_aes_128_gcm() {
    let key = MasterKey::new(Suite::AeadAes128Gcm, hex(GCM_KEY), None).unwrap();
    let (mut sender, mut receiver) = pair(&key);
    let srtp = hex(
        "800f1234 decafbad cafebabe c5002ede 04cfdd2e b91159e0 880aa06e
                    d2976826 f796b201 df3131a1 27e8a392",
    );
    let srtcp = hex(
        "81c8000b cafebabe c98b8b5d f0392a55 852b6c21 ac8e7025 c52c6fbe
                     a2b3b446 ea31123b a88ce61e 80000001",
    );
    assert_eq!(sender.protect_rtp(&hex(RTP)).unwrap(), srtp);
    assert_eq!(sender.protect_rtcp(&hex(RTCP)).unwrap(), srtcp);
    assert_eq!(receiver.unprotect_rtp(&srtp).unwrap(), hex(RTP));
    assert_eq!(receiver.unprotect_rtcp(&srtcp).unwrap(), hex(RTCP));
}

#[test]
fn a_wrong_key_fails_authentication_and_a_short_packet_is_refused() {
    let key = MasterKey::new(Suite::AesCm128HmacSha1_32, hex(KEY), None).unwrap();
    let mut sender = Context::new(&key);
    let srtp = sender.protect_rtp(&hex(RTP)).unwrap();
    assert_eq!(srtp.len(), hex(RTP).len() + 4, "32-bit tags");
    let srtcp = sender.protect_rtcp(&hex(RTCP)).unwrap();
    assert_eq!(srtcp.len(), hex(RTCP).len() + 14, "SRTCP keeps 80-bit tags");
    let mut wrong = hex(KEY);
    wrong[0] ^= 0x80;
    let wrong = MasterKey::new(Suite::AesCm128HmacSha1_32, wrong, None).unwrap();
    let mut receiver = Context::new(&wrong);
    assert_eq!(
        receiver.unprotect_rtp(&srtp),
        Err(Error::AuthenticationFailed)
    );
    assert_eq!(
        receiver.unprotect_rtcp(&srtcp),
        Err(Error::AuthenticationFailed)
    );
    assert_eq!(
        receiver.unprotect_rtp(&srtp[..14]),
        Err(Error::TooShort { len: 14 })
    );
}

#[test]
fn a_key_s_lifetime_is_a_packet_budget() {
    let key = MasterKey::new(Suite::AesCm128HmacSha1_80, hex(KEY), None)
        .unwrap()
        .with_lifetime(2);
    let mut sender = Context::new(&key);
    let packets = [
        common::rtp(1, 7, b"a"),
        common::rtp(2, 7, b"b"),
        common::rtp(3, 7, b"c"),
    ];
    assert!(sender.protect_rtp(&packets[0]).is_ok());
    assert!(sender.protect_rtp(&packets[1]).is_ok());
    assert_eq!(sender.protect_rtp(&packets[2]), Err(Error::KeyExhausted));
}
