//! Packets per second through protect and unprotect for each suite, 160-byte payloads (G.711 at
//! 20 ms), as a plain binary so the same code can be timed natively and compiled to wasm
//! (`scripts/bench-srtp-wasm.sh` runs it in Node's WASI, the V8 engine the browser simulator
//! uses).

use std::time::Instant;

use twoleg_srtp::{Context, MasterKey, Suite};

const PACKETS: u32 = 200_000;

fn main() {
    for suite in Suite::ALL {
        let key = MasterKey::new(suite, vec![7; suite.key_len() + suite.salt_len()], None)
            .expect("a key of the suite's length");
        let mut sender = Context::new(&key);
        let mut receiver = Context::new(&key);
        let mut packet = vec![0xd5; 12 + 160];
        packet[0] = 0x80;
        packet[8..12].copy_from_slice(&0x1234_5678_u32.to_be_bytes());
        let mut protected = Vec::with_capacity(PACKETS as usize);
        let start = Instant::now();
        for seq in 0..PACKETS {
            packet[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
            protected.push(sender.protect_rtp(&packet).expect("protects"));
        }
        let protect = start.elapsed();
        let start = Instant::now();
        for packet in &protected {
            receiver.unprotect_rtp(packet).expect("authenticates");
        }
        let unprotect = start.elapsed();
        let rate = |elapsed: std::time::Duration| f64::from(PACKETS) / elapsed.as_secs_f64();
        println!(
            "{:<24} protect {:>6.0} ns ({:.2} M packets/s)   unprotect {:>6.0} ns ({:.2} M packets/s)",
            suite.name(),
            protect.as_nanos() as f64 / f64::from(PACKETS),
            rate(protect) / 1e6,
            unprotect.as_nanos() as f64 / f64::from(PACKETS),
            rate(unprotect) / 1e6,
        );
    }
}
