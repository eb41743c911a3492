//! Media encryption policy (the encryption B2BUA): zones' modes decide, per leg, whether the
//! SDP TwoLeg writes carries SRTP; TwoLeg's own address, ports and keys replace the peer's;
//! offers and answers that cannot meet a leg's mode end in 488; the host is told each stream's
//! ports and keys, and history records what was anchored. The caller is in zone `caller`
//! (127.0.0.1), the callee in zone `callee` (127.0.0.2).

mod common;

use common::*;
use twoleg_core::config::ValidConfig;
use twoleg_core::media::{MediaStream, PolicyViolation};
use twoleg_core::srtp::{Crypto, Suite};
use twoleg_core::status::{Outcome, Side};
use twoleg_core::{Event, Refusal};

const FAR_CALLEE: &str = "127.0.0.2:5070";

fn zones_config(caller_mode: &str, callee_mode: &str, max_calls: u32) -> ValidConfig {
    ValidConfig::from_json(&format!(
        r#"{{
  "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
  "routes": [ {{ "name": "far", "destination": "{FAR_CALLEE}" }} ],
  "zones": [
    {{ "name": "caller", "peers": ["127.0.0.1"], "media_encryption_mode": "{caller_mode}" }},
    {{ "name": "callee", "peers": ["127.0.0.2/32"], "media_encryption_mode": "{callee_mode}" }}
  ],
  "encryption_b2bua": {{ "max_calls": {max_calls} }}
}}"#
    ))
    .unwrap()
}

const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

/// An SDP from `ip`, RTP on `port`, with `proto` and these crypto lines.
fn sdp(ip: &str, port: u16, proto: &str, cryptos: &[&str]) -> String {
    let mut text = format!(
        "v=0\r\no=peer 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} {proto} 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    );
    for crypto in cryptos {
        text.push_str(&format!("a=crypto:{crypto}\r\n"));
    }
    text
}

fn crypto_lines(body: &[u8]) -> Vec<Crypto> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| line.strip_prefix("a=crypto:"))
        .map(|value| Crypto::parse(value).unwrap())
        .collect()
}

fn media_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .find(|line| line.starts_with("m="))
        .unwrap()
        .to_owned()
}

fn port_of(media_line: &str) -> u16 {
    media_line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The callee's response to the B leg's INVITE, its Contact on 127.0.0.2.
fn callee_reply(b_invite: &Msg, status: u16, body: &str) -> String {
    let contact = format!("Contact: <sip:bob@{FAR_CALLEE}>\r\n");
    let reason = if status == 200 {
        "OK"
    } else {
        "Session Progress"
    };
    b_invite.reply(status, reason, Some("bob-tag"), &contact, body)
}

fn media_streams(net: &Net) -> Vec<MediaStream> {
    net.events
        .iter()
        .filter_map(|event| match event {
            Event::MediaStream(stream) => Some((**stream).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_force_encrypted_callee_gets_srtp_and_the_auto_caller_keeps_rtp() {
    let mut net = Net::new(zones_config("auto", "force_encrypted", 100));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("fe1", "z9hG4bKfe1", 1, 70, "", &offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let b_offer = b_invite.body();
    let line = media_line(b_offer);
    assert!(
        line.starts_with("m=audio ") && line.ends_with(" RTP/SAVP 0 8"),
        "{line}"
    );
    let b_port = port_of(&line);
    assert!(
        (36_000..=59_999).contains(&b_port) && b_port.is_multiple_of(2),
        "{line}"
    );
    let text = String::from_utf8_lossy(b_offer);
    assert!(text.contains("c=IN IP4 127.0.0.1\r\n"));
    assert!(text.contains("o=twoleg "), "TwoLeg's own origin: {text}");
    assert!(
        !text.contains("40000"),
        "the caller's port never reaches the callee"
    );
    assert!(
        text.contains("a=rtpmap:8 PCMA/8000"),
        "other lines are kept"
    );
    let offered = crypto_lines(b_offer);
    let suites: Vec<Suite> = offered.iter().map(Crypto::suite).collect();
    assert_eq!(
        suites,
        Suite::ALL.to_vec(),
        "a line per suite TwoLeg speaks"
    );

    // The callee takes AES_CM_128_HMAC_SHA1_80 (TwoLeg's tag 2) with its own key.
    let answer = sdp(
        "127.0.0.2",
        50_000,
        "RTP/SAVP",
        &[&format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")],
    );
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &answer));
    let a_ok = net.expect_one(CALLER, "200");
    let a_answer = a_ok.body();
    let a_line = media_line(a_answer);
    assert!(a_line.ends_with(" RTP/AVP 0 8"), "{a_line}");
    assert!(
        crypto_lines(a_answer).is_empty(),
        "clear RTP toward the auto caller"
    );
    let a_port = port_of(&a_line);
    assert_ne!(a_port, b_port, "each leg has its own ports");
    assert!(
        !String::from_utf8_lossy(a_answer).contains(KEY),
        "the callee's key stays on its leg"
    );

    let streams = media_streams(&net);
    let leg = |side| streams.iter().rev().find(|s| s.side == side).unwrap();
    let (a, b) = (leg(Side::A), leg(Side::B));
    assert_eq!(a.local_rtp, addr(&format!("127.0.0.1:{a_port}")));
    assert_eq!(a.remote_rtp, Some(addr("127.0.0.1:40000")));
    assert_eq!(a.remote_rtcp, Some(addr("127.0.0.1:40001")));
    assert!(a.srtp.is_none());
    assert_eq!(b.local_rtp, addr(&format!("127.0.0.1:{b_port}")));
    assert_eq!(b.remote_rtp, Some(addr("127.0.0.2:50000")));
    let keys = b.srtp.as_ref().expect("SRTP on leg B");
    assert_eq!(keys.suite(), Suite::AesCm128HmacSha1_80);
    assert_eq!(
        keys.send, offered[1].key,
        "TwoLeg sends with the key it offered under tag 2"
    );
    assert_eq!(
        keys.receive,
        Crypto::parse(&format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"))
            .unwrap()
            .key
    );

    // Nothing secret in events' Debug or in the record.
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("fe1", 1, &tag, ""));
    net.send(
        CALLER,
        &caller_request("BYE", "fe1", "z9hG4bKbye", 2, &tag, "", ""),
    );
    let bye = net.expect_one(FAR_CALLEE, "BYE");
    net.send(FAR_CALLEE, &bye.reply(200, "OK", None, "", ""));
    let debug = format!("{:?}", net.events);
    let record = net.history().pop().expect("the call is in history");
    let json = serde_json::to_string(&record).unwrap();
    for key in offered.iter().map(|c| c.to_string()) {
        let inline = key.split("inline:").nth(1).unwrap().to_owned();
        assert!(
            !debug.contains(&inline) && !json.contains(&inline),
            "a key leaked"
        );
    }
    assert!(!debug.contains(KEY) && !json.contains(KEY));
    let media = record.media.expect("the record names the encryption B2BUA");
    assert_eq!(media.component, "B2BUA");
    assert_eq!(media.zones[1].name, "callee");
    assert_eq!(media.streams[0].legs[0].suite, None);
    assert_eq!(
        media.streams[0].legs[1].suite.as_deref(),
        Some("AES_CM_128_HMAC_SHA1_80")
    );
    let closed = net
        .events
        .iter()
        .filter(|event| matches!(event, Event::MediaStreamClosed { .. }))
        .count();
    assert_eq!(closed, 2, "both legs' ports are closed with the call");
}

#[test]
fn an_offer_a_force_encrypted_caller_cannot_encrypt_is_refused_with_488() {
    let mut net = Net::new(zones_config("force_encrypted", "auto", 100));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("fe2", "z9hG4bKfe2", 1, 70, "", &offer));
    let refusal = net.expect_one(CALLER, "488");
    assert!(
        refusal
            .header("Warning")
            .is_some_and(|w| w.starts_with("399 twoleg \"media encryption is required")),
        "{}",
        refusal.text
    );
    assert!(
        net.take_to(FAR_CALLEE).is_empty(),
        "nothing goes to the callee"
    );
    assert!(net.events.iter().any(|event| matches!(
        event,
        Event::Refused {
            reason: Refusal::MediaPolicy(PolicyViolation::EncryptionRequired),
            ..
        }
    )));
    assert_eq!(net.engine().calls().count(), 0);
}

#[test]
fn an_srtp_only_offer_toward_a_force_unencrypted_leg_is_refused() {
    let mut net = Net::new(zones_config("force_unencrypted", "auto", 100));
    let offer = sdp(
        "127.0.0.1",
        40_000,
        "RTP/SAVP",
        &[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")],
    );
    net.send(CALLER, &invite("fu1", "z9hG4bKfu1", 1, 70, "", &offer));
    net.expect_one(CALLER, "488");

    // The same key offered opportunistically (RTP/AVP): answered without crypto; the auto
    // callee is offered the same form, with TwoLeg's keys.
    let offer = sdp(
        "127.0.0.1",
        40_000,
        "RTP/AVP",
        &[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")],
    );
    net.send(CALLER, &invite("fu2", "z9hG4bKfu2", 1, 70, "", &offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    assert!(media_line(b_invite.body()).ends_with(" RTP/AVP 0 8"));
    let offered = crypto_lines(b_invite.body());
    assert_eq!(offered.len(), 3, "OSRTP mirrored toward the auto leg");
    assert!(!String::from_utf8_lossy(b_invite.body()).contains(KEY));
    let answer = sdp(
        "127.0.0.2",
        50_000,
        "RTP/AVP",
        &[&format!(
            "1 AEAD_AES_128_GCM inline:{}",
            "A".repeat(38) + "=="
        )],
    );
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &answer));
    let a_ok = net.expect_one(CALLER, "200");
    assert!(
        crypto_lines(a_ok.body()).is_empty(),
        "clear toward the force unencrypted caller"
    );
    let streams = media_streams(&net);
    let b = streams.iter().rev().find(|s| s.side == Side::B).unwrap();
    assert_eq!(
        b.srtp.as_ref().map(|k| k.suite()),
        Some(Suite::AeadAes128Gcm)
    );
}

#[test]
fn an_answer_without_crypto_on_a_force_encrypted_leg_ends_the_call_with_488() {
    let mut net = Net::new(zones_config("auto", "force_encrypted", 100));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("fe3", "z9hG4bKfe3", 1, 70, "", &offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let answer = sdp("127.0.0.2", 50_000, "RTP/AVP", &[]);
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &answer));
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(FAR_CALLEE) && m.is("ACK")));
    let bye = sent
        .iter()
        .find(|m| m.to == addr(FAR_CALLEE) && m.is("BYE"))
        .expect("the callee's answered leg is hung up");
    net.send(FAR_CALLEE, &bye.reply(200, "OK", None, "", ""));
    let refusal = sent
        .iter()
        .find(|m| m.to == addr(CALLER) && m.status().is_some_and(|s| s >= 200))
        .expect("a final response for the caller");
    assert_eq!(refusal.status(), Some(488));
    assert!(
        refusal
            .header("Warning")
            .is_some_and(|w| w.contains("no crypto"))
    );
    let tag = refusal.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("fe3", 1, &tag, ""));
    let record = net.history().pop().expect("the call ended");
    assert_eq!(record.final_status, 488);
    assert_eq!(record.outcome, Outcome::Rejected);
    assert!(
        record.reason.contains("media encryption policy"),
        "{}",
        record.reason
    );
}

#[test]
fn a_late_offer_is_checked_in_the_200_and_answered_in_the_ack() {
    let mut net = Net::new(zones_config("auto", "force_encrypted", 100));
    net.send(CALLER, &invite("lo1", "z9hG4bKlo1", 1, 70, "", ""));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    assert!(b_invite.body().is_empty());
    let offer = sdp(
        "127.0.0.2",
        50_000,
        "RTP/SAVP",
        &[&format!("7 AES_CM_128_HMAC_SHA1_32 inline:{KEY}")],
    );
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &offer));
    let a_ok = net.expect_one(CALLER, "200");
    let a_offer = a_ok.body();
    assert!(
        media_line(a_offer).ends_with(" RTP/SAVP 0 8"),
        "the auto caller is offered what the callee offered: {}",
        media_line(a_offer)
    );
    let offered = crypto_lines(a_offer);
    assert_eq!(offered.len(), 3);
    assert!(!String::from_utf8_lossy(a_offer).contains(KEY));
    let tag = a_ok.to_tag().unwrap().to_owned();
    let gcm_key = "B".repeat(37) + "A==";
    let answer = sdp(
        "127.0.0.1",
        40_000,
        "RTP/SAVP",
        &[&format!("1 AEAD_AES_128_GCM inline:{gcm_key}")],
    );
    net.send(CALLER, &caller_ack("lo1", 1, &tag, &answer));
    let ack = net.expect_one(FAR_CALLEE, "ACK");
    let crypto = crypto_lines(ack.body());
    assert_eq!(crypto.len(), 1, "{}\n{:?}", ack.text, net.events.last());
    assert_eq!(crypto[0].tag, 7, "TwoLeg answers the callee's tag");
    assert_eq!(crypto[0].suite(), Suite::AesCm128HmacSha1_32);
    assert!(media_line(ack.body()).ends_with(" RTP/SAVP 0 8"));
}

#[test]
fn the_encryption_b2bua_takes_max_calls_then_answers_503() {
    let mut net = Net::new(zones_config("best_effort", "auto", 1));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("mc1", "z9hG4bKmc1", 1, 70, "", &offer));
    net.expect_one(FAR_CALLEE, "INVITE");
    net.send(CALLER, &invite("mc2", "z9hG4bKmc2", 1, 70, "", &offer));
    let busy = net.expect_one(CALLER, "503");
    assert!(busy.header("Retry-After").is_some());
    assert!(net.events.iter().any(|event| matches!(
        event,
        Event::Refused {
            reason: Refusal::EncryptionB2buaBusy,
            ..
        }
    )));
}

#[test]
fn both_legs_in_auto_leave_the_sdp_untouched() {
    let mut net = Net::new(zones_config("auto", "auto", 100));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("au1", "z9hG4bKau1", 1, 70, "", &offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    assert_eq!(b_invite.body(), offer.as_bytes());
    assert!(media_streams(&net).is_empty());
}

#[test]
fn a_re_invite_keeps_keys_that_did_not_change_and_takes_new_ones() {
    let mut net = Net::new(zones_config("auto", "force_encrypted", 100));
    let offer = sdp("127.0.0.1", 40_000, "RTP/AVP", &[]);
    net.send(CALLER, &invite("ri1", "z9hG4bKri1", 1, 70, "", &offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let callee_key = format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}");
    let answer = sdp("127.0.0.2", 50_000, "RTP/SAVP", &[&callee_key]);
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &answer));
    let a_ok = net.expect_one(CALLER, "200");
    let tag = a_ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("ri1", 1, &tag, ""));
    net.take();
    let first = media_streams(&net);
    let b_before = first
        .iter()
        .rev()
        .find(|s| s.side == Side::B)
        .unwrap()
        .clone();
    let b_keys = b_before.srtp.clone().unwrap();

    // Hold from the caller: the same media, sendonly.
    let hold = offer.clone() + "a=sendonly\r\n";
    net.send(
        CALLER,
        &caller_request("INVITE", "ri1", "z9hG4bKri2", 2, &tag, "", &hold),
    );
    let re_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let text = String::from_utf8_lossy(re_invite.body()).into_owned();
    assert!(text.contains("a=sendonly"), "hold is relayed: {text}");
    assert_eq!(
        port_of(&media_line(re_invite.body())),
        b_before.local_rtp.port(),
        "same ports"
    );
    let offered = crypto_lines(re_invite.body());
    assert_eq!(
        offered[0].key, b_keys.send,
        "TwoLeg's key on leg B is offered again first"
    );

    // The callee answers with its key unchanged: nothing changes on leg B.
    let far_contact = format!("Contact: <sip:bob@{FAR_CALLEE}>\r\n");
    let held = answer.clone() + "a=recvonly\r\n";
    net.send(
        FAR_CALLEE,
        &re_invite.reply(200, "OK", None, &far_contact, &held),
    );
    let ok = net.expect_one(CALLER, "200");
    assert!(String::from_utf8_lossy(ok.body()).contains("a=recvonly"));
    let b_after = media_streams(&net)
        .into_iter()
        .rev()
        .find(|s| s.side == Side::B)
        .unwrap();
    assert_eq!(b_after.srtp.as_ref().unwrap().send, b_keys.send);
    assert_eq!(b_after.srtp.as_ref().unwrap().receive, b_keys.receive);
    net.send(CALLER, &caller_ack("ri1", 2, &tag, ""));
    net.take();

    // Off hold, and the callee answers with a new key: a new receive context on leg B.
    net.send(
        CALLER,
        &caller_request("INVITE", "ri1", "z9hG4bKri3", 3, &tag, "", &offer),
    );
    let re_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let new_key = format!("2 AES_CM_128_HMAC_SHA1_80 inline:{}", "Q".repeat(40));
    let renewed = sdp("127.0.0.2", 50_000, "RTP/SAVP", &[&new_key]);
    net.send(
        FAR_CALLEE,
        &re_invite.reply(200, "OK", None, &far_contact, &renewed),
    );
    net.expect_one(CALLER, "200");
    let b_new = media_streams(&net)
        .into_iter()
        .rev()
        .find(|s| s.side == Side::B)
        .unwrap();
    let keys = b_new.srtp.unwrap();
    assert_eq!(keys.receive, Crypto::parse(&new_key).unwrap().key);
    assert_ne!(keys.receive, b_keys.receive);
}

#[test]
fn audio_and_video_each_get_their_own_ports_and_keys_and_a_non_rtp_line_is_declined() {
    let mut net = Net::new(zones_config("auto", "force_encrypted", 100));
    let offer = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
        m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
        m=application 40004 UDP/BFCP *\r\n";
    net.send(CALLER, &invite("av1", "z9hG4bKav1", 1, 70, "", offer));
    let b_invite = net.expect_one(FAR_CALLEE, "INVITE");
    let b_offer = String::from_utf8_lossy(b_invite.body()).into_owned();
    let lines: Vec<&str> = b_offer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(lines.len(), 3, "{b_offer}");
    assert!(lines[0].starts_with("m=audio ") && lines[0].ends_with(" RTP/SAVP 0"));
    assert!(lines[1].starts_with("m=video ") && lines[1].ends_with(" RTP/SAVP 96"));
    assert!(lines[2].starts_with("m=application 0 "), "{}", lines[2]);
    let (audio, video) = (port_of(lines[0]), port_of(lines[1]));
    assert_ne!(audio, video);
    assert!(
        audio % 2 == 0 && video % 2 == 0,
        "even RTP ports, RTCP on the odd ones"
    );
    // Each section has its own crypto lines with their own keys.
    let sections: Vec<&str> = b_offer.split("m=").skip(1).collect();
    let keys = |section: &str| -> Vec<String> {
        section
            .lines()
            .filter_map(|l| l.strip_prefix("a=crypto:"))
            .map(|v| v.split("inline:").nth(1).unwrap().to_owned())
            .collect()
    };
    let (audio_keys, video_keys) = (keys(sections[0]), keys(sections[1]));
    assert_eq!((audio_keys.len(), video_keys.len()), (3, 3));
    assert!(audio_keys.iter().all(|key| !video_keys.contains(key)));

    // The callee takes both with AES_CM_128_HMAC_SHA1_80 (TwoLeg's tag 2) and declines BFCP.
    let answer = format!(
        "v=0\r\no=callee 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
         m=audio 50000 RTP/SAVP 0\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n\
         m=video 50002 RTP/SAVP 96\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n\
         m=application 0 UDP/BFCP *\r\n"
    );
    net.send(FAR_CALLEE, &callee_reply(&b_invite, 200, &answer));
    let a_ok = net.expect_one(CALLER, "200");
    let a_answer = String::from_utf8_lossy(a_ok.body()).into_owned();
    let a_lines: Vec<&str> = a_answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(a_lines.len(), 3, "{a_answer}");
    assert!(a_lines[0].ends_with(" RTP/AVP 0") && a_lines[1].ends_with(" RTP/AVP 96"));
    assert!(a_lines[2].starts_with("m=application 0 "));
    let (a_audio, a_video) = (port_of(a_lines[0]), port_of(a_lines[1]));
    assert!(a_audio != a_video && ![audio, video].contains(&a_audio));

    let streams = media_streams(&net);
    assert_eq!(streams.len(), 4, "two streams, two legs each: {streams:?}");
    let b_keys: Vec<_> = streams
        .iter()
        .filter(|s| s.side == Side::B)
        .map(|s| (s.stream, s.srtp.clone().expect("SRTP on leg B").send))
        .collect();
    assert_eq!(b_keys.len(), 2);
    assert_ne!(b_keys[0].0, b_keys[1].0);
    assert_ne!(b_keys[0].1, b_keys[1].1, "TwoLeg's key differs per stream");
    assert_eq!(
        streams
            .iter()
            .find(|s| s.side == Side::A && s.stream == 1)
            .and_then(|s| s.remote_rtp),
        Some(addr("127.0.0.1:40002"))
    );
}
