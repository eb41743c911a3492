#!/usr/bin/env python3
"""Proof from outside TwoLeg that it converts SRTP to RTP: reads a tcpdump capture of a call
(caller -> TwoLeg over SRTP, TwoLeg -> callee over clear RTP), takes the caller's key from its
INVITE's SDP (the a=crypto line whose tag TwoLeg's 200 OK accepted), decrypts the caller's
packets with libsrtp (the PyPI package pylibsrtp) and compares them with the clear packets
TwoLeg sent the callee. Also decrypts with a key one bit off, which must fail every time.

Usage: check_capture.py CAPTURE CALLER_IP TWOLEG_IP CALLEE_IP
Prints one JSON object: packets seen, decrypted, matched on leg B, and forged."""
import base64
import json
import socket
import struct
import sys

import pylibsrtp

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}
# Link-layer header lengths of the capture kinds tcpdump writes for lo.
LINK_HEADER = {0: 4, 1: 14, 113: 16, 276: 20}


def udp_packets(path):
    """(source ip, source port, destination ip, destination port, payload) of each IPv4 UDP
    packet in a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    skip = LINK_HEADER[linktype]
    offset = 24
    while offset + 16 <= len(data):
        _, _, captured, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        ip = frame[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        header = (ip[0] & 0x0F) * 4
        source, destination = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport, length = struct.unpack(">HHH", ip[header:header + 6])
        yield source, sport, destination, dport, ip[header + 8:header + length]


def sdp_cryptos(payload):
    """{tag: (suite, inline key)} of a SIP message's SDP."""
    found = {}
    for line in payload.decode("utf-8", "replace").split("\r\n"):
        if line.startswith("a=crypto:"):
            tag, suite, params = line[len("a=crypto:"):].split(" ")[:3]
            found[int(tag)] = (suite, params.split("inline:")[1].split("|")[0])
    return found


def sdp_port(payload):
    """The port of the first m= line of a SIP message's SDP."""
    for line in payload.decode("utf-8", "replace").split("\r\n"):
        if line.startswith("m="):
            return int(line.split(" ")[1])
    return None


def is_rtp(payload):
    return len(payload) >= 12 and payload[0] >> 6 == 2 and not 200 <= payload[1] <= 206


def main():
    capture, caller, twoleg, callee = sys.argv[1:5]
    packets = list(udp_packets(capture))
    # TwoLeg's media port on each leg: in its 200 to the caller and its INVITE to the callee
    # (the endpoints may send from another local address than their SIP one, so legs are told
    # apart by TwoLeg's ports).
    offered = accepted = None
    leg_a_port = leg_b_port = None
    for source, _, destination, _, payload in packets:
        if source == caller and destination == twoleg and payload.startswith(b"INVITE "):
            offered = offered or sdp_cryptos(payload)
        if source == twoleg and destination == caller and payload.startswith(b"SIP/2.0 200") \
                and b"m=audio" in payload:
            accepted = accepted or sdp_cryptos(payload)
            leg_a_port = leg_a_port or sdp_port(payload)
        if source == twoleg and destination == callee and payload.startswith(b"INVITE "):
            leg_b_port = leg_b_port or sdp_port(payload)
    if not offered or not accepted:
        print(json.dumps({"error": "no SDES exchange on leg A in the capture"}))
        return
    tag = next(iter(accepted))
    suite, key = offered[tag]
    key = base64.b64decode(key)
    wrong = bytes([key[0] ^ 1]) + key[1:]

    def session(material):
        policy = pylibsrtp.Policy(key=material, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=PROFILES[suite])
        return pylibsrtp.Session(policy=policy)

    right, forged = session(key), session(wrong)
    decrypted, leg_a, forgeries = [], 0, 0
    for source, _, destination, dport, payload in packets:
        # The test's stranger sends its junk from TwoLeg's own address: not the caller's.
        if destination != twoleg or dport != leg_a_port or source == twoleg or not is_rtp(payload):
            continue
        leg_a += 1
        try:
            forged.unprotect(payload)
            forgeries += 1
        except pylibsrtp.Error:
            pass
        try:
            decrypted.append(right.unprotect(payload))
        except pylibsrtp.Error:
            pass
    clear = set(decrypted)
    leg_b = [p for s, sport, _, _, p in packets if s == twoleg and sport == leg_b_port and is_rtp(p)]
    print(json.dumps({
        "suite": suite,
        "leg_a_port": leg_a_port,
        "leg_b_port": leg_b_port,
        "leg_a_packets": leg_a,
        "leg_a_decrypted": len(decrypted),
        "leg_a_forged": forgeries,
        "leg_b_packets": len(leg_b),
        "leg_b_matching": sum(1 for p in leg_b if p in clear),
    }))


if __name__ == "__main__":
    main()
