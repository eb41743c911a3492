#!/usr/bin/env python3
"""libsrtp (2.x, as bundled by the PyPI package pylibsrtp) on one job, for TwoLeg's
differential SRTP test. Reads a JSON job on stdin:
  {"profile": "AES_CM_128_HMAC_SHA1_80", "key": hex, "mki": hex or null,
   "ops": [{"op": "protect_rtp" | "unprotect_rtp" | "protect_rtcp" | "unprotect_rtcp",
            "packet": hex}, ...]}
and writes a JSON list, one {"status": n, "packet": hex} per op (status 0 is success).
Protecting uses one sender session, unprotecting one receiver session, both for any SSRC.
The library is driven through ctypes because pylibsrtp's own API has no MKI."""
import ctypes
import json
import sys

import pylibsrtp  # noqa: F401 (initialises libsrtp)
import pylibsrtp._binding

lib = ctypes.CDLL(pylibsrtp._binding.__file__)

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": 1,
    "AES_CM_128_HMAC_SHA1_32": 2,
    "AEAD_AES_128_GCM": 7,
}
SSRC_ANY_INBOUND, SSRC_ANY_OUTBOUND = 2, 3


class Ssrc(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("value", ctypes.c_uint)]


class CryptoPolicy(ctypes.Structure):
    _fields_ = [
        ("cipher_type", ctypes.c_uint32),
        ("cipher_key_len", ctypes.c_int),
        ("auth_type", ctypes.c_uint32),
        ("auth_key_len", ctypes.c_int),
        ("auth_tag_len", ctypes.c_int),
        ("sec_serv", ctypes.c_int),
    ]


class MasterKey(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_void_p),
        ("mki_id", ctypes.c_void_p),
        ("mki_size", ctypes.c_uint),
    ]


class Policy(ctypes.Structure):
    _fields_ = [
        ("ssrc", Ssrc),
        ("rtp", CryptoPolicy),
        ("rtcp", CryptoPolicy),
        ("key", ctypes.c_void_p),
        ("keys", ctypes.POINTER(ctypes.POINTER(MasterKey))),
        ("num_master_keys", ctypes.c_ulong),
        ("deprecated_ekt", ctypes.c_void_p),
        ("window_size", ctypes.c_ulong),
        ("allow_repeat_tx", ctypes.c_int),
        ("enc_xtn_hdr", ctypes.POINTER(ctypes.c_int)),
        ("enc_xtn_hdr_count", ctypes.c_int),
        ("next", ctypes.c_void_p),
    ]


def session(profile, key, mki, ssrc_type):
    keep = []  # buffers the policy points into, alive until srtp_create has copied them
    policy = Policy()
    for part, setter in ((policy.rtp, lib.srtp_crypto_policy_set_from_profile_for_rtp),
                         (policy.rtcp, lib.srtp_crypto_policy_set_from_profile_for_rtcp)):
        assert setter(ctypes.byref(part), PROFILES[profile]) == 0, "profile"
    policy.ssrc.type = ssrc_type
    policy.window_size = 128
    key_buffer = ctypes.create_string_buffer(bytes(key) + bytes(32))
    keep.append(key_buffer)
    if mki is None:
        policy.key = ctypes.cast(key_buffer, ctypes.c_void_p)
    else:
        mki_buffer = ctypes.create_string_buffer(bytes(mki))
        master = MasterKey(ctypes.cast(key_buffer, ctypes.c_void_p),
                           ctypes.cast(mki_buffer, ctypes.c_void_p), len(mki))
        keys = (ctypes.POINTER(MasterKey) * 1)(ctypes.pointer(master))
        keep += [mki_buffer, master, keys]
        policy.keys = keys
        policy.num_master_keys = 1
    handle = ctypes.c_void_p()
    status = lib.srtp_create(ctypes.byref(handle), ctypes.byref(policy))
    assert status == 0, f"srtp_create: {status}"
    return handle


def run(job):
    # Importing pylibsrtp ran srtp_init already.
    mki = bytes.fromhex(job["mki"]) if job.get("mki") else None
    key = bytes.fromhex(job["key"])
    sender = session(job["profile"], key, mki, SSRC_ANY_OUTBOUND)
    receiver = session(job["profile"], key, mki, SSRC_ANY_INBOUND)
    functions = {
        "protect_rtp": (sender, lib.srtp_protect_mki, True),
        "protect_rtcp": (sender, lib.srtp_protect_rtcp_mki, True),
        "unprotect_rtp": (receiver, lib.srtp_unprotect_mki, False),
        "unprotect_rtcp": (receiver, lib.srtp_unprotect_rtcp_mki, False),
    }
    results = []
    for op in job["ops"]:
        handle, function, protect = functions[op["op"]]
        packet = bytes.fromhex(op["packet"])
        buffer = ctypes.create_string_buffer(packet + bytes(64))
        length = ctypes.c_int(len(packet))
        if protect:
            status = function(handle, buffer, ctypes.byref(length), int(mki is not None), 0)
        else:
            status = function(handle, buffer, ctypes.byref(length), int(mki is not None))
        results.append({"status": status, "packet": buffer.raw[: length.value].hex()})
    lib.srtp_dealloc(sender)
    lib.srtp_dealloc(receiver)
    return results


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
