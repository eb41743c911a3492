#![allow(missing_docs)] // criterion_group! writes an undocumented function.

//! Packets per second, protect and unprotect, for 160-byte payloads (G.711, 20 ms), each suite.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use twoleg_srtp::{Context, MasterKey, Suite};

fn rtp(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    packet.extend_from_slice(&[0xd5; 160]);
    packet
}

fn packets(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp 160-byte payload");
    group.throughput(Throughput::Elements(1));
    for suite in Suite::ALL {
        let key = MasterKey::new(suite, vec![0x42; suite.key_len() + suite.salt_len()], None)
            .expect("a key of the suite's length");
        let mut sender = Context::new(&key);
        let mut seq = 0u16;
        group.bench_function(BenchmarkId::new("protect", suite), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                sender.protect_rtp(&rtp(seq)).expect("protects")
            })
        });
        // Unprotect a window's worth of fresh packets, then start a fresh receiver.
        let mut source = Context::new(&key);
        let protected: Vec<Vec<u8>> = (0..4_096u16)
            .map(|seq| source.protect_rtp(&rtp(seq)).expect("protects"))
            .collect();
        let mut receiver = Context::new(&key);
        let mut next = 0;
        group.bench_function(BenchmarkId::new("unprotect", suite), |b| {
            b.iter(|| {
                if next == protected.len() {
                    receiver = Context::new(&key);
                    next = 0;
                }
                next += 1;
                receiver
                    .unprotect_rtp(&protected[next - 1])
                    .expect("authenticates")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, packets);
criterion_main!(benches);
