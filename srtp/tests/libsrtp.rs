//! Differential test against libsrtp (2.x, bundled by the PyPI package `pylibsrtp`, driven by
//! `tests/libsrtp.py`): for each suite, with and without an MKI, TwoLeg and libsrtp write the
//! same bytes for the same packets, and each unprotects what the other protected, across a
//! sequence number rollover. `scripts/install-deps.sh` installs pylibsrtp.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{hex, to_hex};
use serde_json::{Value, json};
use twoleg_srtp::{Context, MasterKey, Suite};

/// Runs one job through libsrtp: `(op, packet)` pairs in, `(status, packet)` out.
fn libsrtp(key: &MasterKey, ops: &[(&str, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let job = json!({
        "profile": key.suite().name(),
        "key": to_hex(key.material()),
        "mki": key.mki().map(to_hex),
        "ops": ops
            .iter()
            .map(|(op, packet)| json!({ "op": op, "packet": to_hex(packet) }))
            .collect::<Vec<_>>(),
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libsrtp.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "libsrtp through pylibsrtp (scripts/install-deps.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    answers
        .iter()
        .map(|answer| {
            (
                answer["status"].as_u64().unwrap(),
                hex(answer["packet"].as_str().unwrap()),
            )
        })
        .collect()
}

/// RTP packets across a rollover (65,530 to 4), payloads of several sizes; RTCP reports.
fn traffic() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let rtp = (0..11u16)
        .map(|n| {
            let payload: Vec<u8> = (0..(n as usize * 17 + 1) % 172)
                .map(|i| i as u8 ^ 0x5a)
                .collect();
            common::rtp(65_530u16.wrapping_add(n), 0xdead_beef, &payload)
        })
        .collect();
    let rtcp = (0..4u8)
        .map(|n| common::rtcp(0xdead_beef, &vec![n; 4 * usize::from(n) + 4]))
        .collect();
    (rtp, rtcp)
}

fn differential(suite: Suite, mki: Option<Vec<u8>>) {
    let material: Vec<u8> = (0..suite.key_len() + suite.salt_len())
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect();
    let key = MasterKey::new(suite, material, mki).unwrap();
    let (rtp, rtcp) = traffic();

    // libsrtp protects; TwoLeg writes the same bytes and unprotects libsrtp's.
    let ops: Vec<(&str, Vec<u8>)> = rtp
        .iter()
        .map(|packet| ("protect_rtp", packet.clone()))
        .chain(rtcp.iter().map(|packet| ("protect_rtcp", packet.clone())))
        .collect();
    let theirs = libsrtp(&key, &ops);
    let mut sender = Context::new(&key);
    let mut receiver = Context::new(&key);
    for ((op, packet), (status, protected)) in ops.iter().zip(&theirs) {
        assert_eq!(*status, 0, "libsrtp {op}");
        let ours = if *op == "protect_rtp" {
            sender.protect_rtp(packet).unwrap()
        } else {
            sender.protect_rtcp(packet).unwrap()
        };
        assert_eq!(to_hex(&ours), to_hex(protected), "{suite} {op}: same bytes");
        let back = if *op == "protect_rtp" {
            receiver.unprotect_rtp(protected)
        } else {
            receiver.unprotect_rtcp(protected)
        };
        assert_eq!(
            back.as_ref(),
            Ok(packet),
            "{suite}: TwoLeg reads libsrtp's {op}"
        );
    }

    // TwoLeg protects (a fresh context, the same packets); libsrtp unprotects.
    let mut sender = Context::new(&key);
    let mut ops: Vec<(&str, Vec<u8>)> = Vec::new();
    for packet in &rtp {
        ops.push(("unprotect_rtp", sender.protect_rtp(packet).unwrap()));
    }
    for packet in &rtcp {
        ops.push(("unprotect_rtcp", sender.protect_rtcp(packet).unwrap()));
    }
    let plain: Vec<&Vec<u8>> = rtp.iter().chain(&rtcp).collect();
    for ((status, packet), expected) in libsrtp(&key, &ops).iter().zip(plain) {
        assert_eq!(*status, 0, "{suite}: libsrtp reads TwoLeg's packet");
        assert_eq!(packet, expected);
    }

    // A tampered packet fails in libsrtp too.
    let mut tampered = Context::new(&key).protect_rtp(&rtp[0]).unwrap();
    tampered[14] ^= 1;
    let answer = libsrtp(&key, &[("unprotect_rtp", tampered)]);
    assert_ne!(answer[0].0, 0, "{suite}: libsrtp refuses a flipped bit");
}

#[test]
fn aes_cm_80_matches_libsrtp() {
    differential(Suite::AesCm128HmacSha1_80, None);
}

#[test]
fn aes_cm_32_matches_libsrtp() {
    differential(Suite::AesCm128HmacSha1_32, None);
}

#[test]
fn aes_gcm_matches_libsrtp() {
    differential(Suite::AeadAes128Gcm, None);
}

#[test]
fn a_one_byte_mki_as_lync_writes_matches_libsrtp() {
    differential(Suite::AesCm128HmacSha1_80, Some(vec![1]));
    differential(Suite::AesCm128HmacSha1_32, Some(vec![1]));
}

#[test]
fn a_four_byte_mki_with_gcm_matches_libsrtp() {
    differential(Suite::AeadAes128Gcm, Some(vec![0xf3, 0xa1, 0x46, 0x71]));
}

#[test]
fn the_harness_speaks_libsrtp_s_reference_packet() {
    // libsrtp's own validation packet, so a broken harness cannot pass the tests above.
    let key = MasterKey::new(
        Suite::AesCm128HmacSha1_80,
        hex("e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6"),
        None,
    )
    .unwrap();
    let rtp = hex("800f1234 decafbad cafebabe abababab abababab abababab abababab");
    let answer = libsrtp(&key, &[("protect_rtp", rtp)]);
    assert_eq!(
        to_hex(&answer[0].1),
        "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"
    );
}
