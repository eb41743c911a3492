//! Properties over random packets, keys and suites: protect then unprotect is the identity,
//! any flipped bit fails, replays are refused, sequence numbers roll over.

mod common;

use proptest::prelude::*;
use twoleg_srtp::{Context, Error, MasterKey, Suite};

fn suite() -> impl Strategy<Value = Suite> {
    prop::sample::select(Suite::ALL.to_vec())
}

fn key() -> impl Strategy<Value = MasterKey> {
    (
        suite(),
        prop::collection::vec(any::<u8>(), 30),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..=4)),
    )
        .prop_map(|(suite, mut material, mki)| {
            material.truncate(suite.key_len() + suite.salt_len());
            MasterKey::new(suite, material, mki).unwrap()
        })
}

proptest! {
    #[test]
    fn protect_then_unprotect_is_the_identity(
        key in key(),
        seq in any::<u16>(),
        ssrc in any::<u32>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        report in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let (mut sender, mut receiver) = (Context::new(&key), Context::new(&key));
        let rtp = common::rtp(seq, ssrc, &payload);
        let srtp = sender.protect_rtp(&rtp).unwrap();
        let mki = key.mki().map_or(0, <[u8]>::len);
        prop_assert_eq!(srtp.len(), rtp.len() + key.suite().rtp_overhead() + mki);
        prop_assert_eq!(receiver.unprotect_rtp(&srtp).unwrap(), rtp);

        let rtcp = common::rtcp(ssrc, &report[..report.len() / 4 * 4]);
        let srtcp = sender.protect_rtcp(&rtcp).unwrap();
        prop_assert_eq!(srtcp.len(), rtcp.len() + key.suite().rtcp_overhead() + mki);
        prop_assert_eq!(receiver.unprotect_rtcp(&srtcp).unwrap(), rtcp);
    }

    #[test]
    fn any_flipped_bit_fails(
        key in key(),
        seq in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 1..200),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut sender = Context::new(&key);
        let mut srtp = sender.protect_rtp(&common::rtp(seq, 0x1234, &payload)).unwrap();
        let bit = bit.index(srtp.len() * 8);
        srtp[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Context::new(&key).unprotect_rtp(&srtp).is_err(), "bit {} flipped", bit);

        let mut srtcp = sender.protect_rtcp(&common::rtcp(0x1234, &[0; 16])).unwrap();
        let bit = bit % (srtcp.len() * 8);
        srtcp[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Context::new(&key).unprotect_rtcp(&srtcp).is_err(), "bit {} flipped", bit);
    }

    #[test]
    fn replays_are_refused(key in key(), seq in any::<u16>()) {
        let mut sender = Context::new(&key);
        let mut receiver = Context::new(&key);
        let srtp = sender.protect_rtp(&common::rtp(seq, 9, b"voice")).unwrap();
        prop_assert!(receiver.unprotect_rtp(&srtp).is_ok());
        prop_assert!(
            matches!(receiver.unprotect_rtp(&srtp), Err(Error::Replayed { .. })),
            "replayed"
        );
        let srtcp = sender.protect_rtcp(&common::rtcp(9, &[])).unwrap();
        prop_assert!(receiver.unprotect_rtcp(&srtcp).is_ok());
        prop_assert!(
            matches!(receiver.unprotect_rtcp(&srtcp), Err(Error::Replayed { .. })),
            "replayed"
        );
    }

    /// A stream that crosses sequence number 65535, delivered with neighbours swapped.
    #[test]
    fn sequence_numbers_roll_over(key in key(), start in 65_400u16.., swaps in prop::collection::vec(any::<bool>(), 200)) {
        let mut sender = Context::new(&key);
        let mut receiver = Context::new(&key);
        let mut packets: Vec<(Vec<u8>, Vec<u8>)> = (0..200u16)
            .map(|n| {
                let rtp = common::rtp(start.wrapping_add(n), 77, &n.to_be_bytes());
                (sender.protect_rtp(&rtp).unwrap(), rtp)
            })
            .collect();
        // The first packet stays first: it sets where the receiver's counter starts.
        for (i, swap) in swaps.iter().enumerate().skip(1).take(198) {
            if *swap && i % 2 == 1 {
                packets.swap(i, i + 1);
            }
        }
        for (srtp, rtp) in &packets {
            prop_assert_eq!(&receiver.unprotect_rtp(srtp).unwrap(), rtp);
        }
    }
}
