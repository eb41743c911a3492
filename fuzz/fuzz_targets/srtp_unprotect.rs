//! Feeds arbitrary packets to SRTP and SRTCP unprotect for every suite, with and without an
//! MKI, after one genuine packet so the contexts hold stream state. Nothing may panic, and
//! nothing but the genuine packet may authenticate.

#![no_main]

use libfuzzer_sys::fuzz_target;
use twoleg_srtp::{Context, MasterKey, Suite};

fuzz_target!(|data: &[u8]| {
    for suite in Suite::ALL {
        for mki in [None, Some(vec![1])] {
            let key = MasterKey::new(suite, vec![7; suite.key_len() + suite.salt_len()], mki)
                .expect("a key of the suite's length");
            let mut sender = Context::new(&key);
            let mut receiver = Context::new(&key);
            let genuine = sender
                .protect_rtp(&[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3])
                .expect("protects");
            receiver.unprotect_rtp(&genuine).expect("authenticates");
            assert!(receiver.unprotect_rtp(data).is_err(), "only the genuine packet, once");
            assert!(receiver.unprotect_rtcp(data).is_err());
        }
    }
});
