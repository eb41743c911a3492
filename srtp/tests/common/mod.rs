//! Helpers shared by the SRTP tests.

#![allow(dead_code, unreachable_pub)]

/// Bytes from hex, spaces ignored.
pub fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Hex from bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An RTP packet: version 2, payload type 0, this sequence number and SSRC, and `payload`.
pub fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// An RTCP receiver report from `ssrc` with `extra` bytes after the header.
pub fn rtcp(ssrc: u32, extra: &[u8]) -> Vec<u8> {
    let words = (8 + extra.len()) / 4 - 1;
    let mut packet = vec![0x80, 201];
    packet.extend_from_slice(&(words as u16).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(extra);
    packet
}
