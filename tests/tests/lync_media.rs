//! The Microsoft Lync B2BUA always takes the media: the Lync leg's first stream sits on the port
//! pair of its TURN relays, SDP toward Lync says its encryption level (`a=encryption:`), and
//! `lync_b2bua.encryption` applies: `required` makes both legs Force encrypted, `auto` leaves
//! each leg to its zone. Lync's front end is at 127.0.0.4, in zone `lync`.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::{
    Config, EXAMPLE_CONFIG, Encryption, MediaEncryptionMode, ValidConfig, Zone,
};
use twoleg_core::media::PolicyViolation;
use twoleg_core::srtp::{Crypto, Suite};
use twoleg_core::status::{Outcome, Side};
use twoleg_core::{Event, Refusal};

const LYNC: &str = "127.0.0.4:5061";
const LYNC_LISTENER: &str = "127.0.0.1:65072";
const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
const LYNC_KEY: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw";

fn lync_config(encryption: Encryption, lync_zone: MediaEncryptionMode) -> ValidConfig {
    let mut config: Config = serde_json::from_str(EXAMPLE_CONFIG).unwrap();
    config.routes[0].destination = LYNC.to_owned();
    config.lync_b2bua.signalling_destination = LYNC.to_owned();
    config.lync_b2bua.encryption = encryption;
    config.turn_servers.truncate(1);
    config.zones = vec![Zone {
        name: "lync".to_owned(),
        peers: vec!["127.0.0.4".to_owned()],
        media_encryption_mode: lync_zone,
        ..Zone::default()
    }];
    ValidConfig::validate(config).unwrap()
}

/// A caller's INVITE toward Lync with an SDP on `proto` and these crypto lines.
fn lync_invite(call_id: &str, proto: &str, cryptos: &[&str]) -> String {
    let mut sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 40000 {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    for crypto in cryptos {
        sdp.push_str(&format!("a=crypto:{crypto}\r\n"));
    }
    invite(call_id, &format!("z9hG4bK{call_id}"), 1, 70, "", &sdp).replace(
        "sip:bob@example.com SIP/2.0",
        "sip:bob@lync.example.com SIP/2.0",
    )
}

/// Lync's answer: SAVP with its key as Lync writes it (lifetime 2^31, a 1-byte MKI), on the
/// tag TwoLeg offered AES_CM_128_HMAC_SHA1_80 under.
fn lync_answer(b_invite: &Msg, secure: bool) -> String {
    let tag = cryptos(b_invite.body())
        .iter()
        .find(|crypto| crypto.suite() == Suite::AesCm128HmacSha1_80)
        .map_or(1, |crypto| crypto.tag);
    let mut sdp = String::from(
        "v=0\r\no=lync 9 1 IN IP4 127.0.0.4\r\ns=session\r\nc=IN IP4 127.0.0.4\r\nt=0 0\r\n",
    );
    if secure {
        sdp.push_str(&format!(
            "m=audio 50000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:{LYNC_KEY}|2^31|1:1\r\n\
             a=encryption:required\r\n"
        ));
    } else {
        sdp.push_str("m=audio 50000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
    }
    let contact = format!("Contact: <sip:bob@{LYNC}>\r\n");
    b_invite.reply(200, "OK", Some("lync"), &contact, &sdp)
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn cryptos(body: &[u8]) -> Vec<Crypto> {
    text(body)
        .lines()
        .filter_map(|line| line.strip_prefix("a=crypto:"))
        .map(|value| Crypto::parse(value).unwrap())
        .collect()
}

#[test]
fn with_encryption_required_both_legs_are_srtp_and_lync_is_told_so() {
    let mut net = Net::new(lync_config(Encryption::Required, MediaEncryptionMode::Auto));
    let key = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}");
    net.send(CALLER, &lync_invite("lr1", "RTP/SAVP", &[&key]));
    let b_invite = net.expect_one(LYNC, "INVITE");
    let offer = text(b_invite.body());
    assert!(offer.contains(" RTP/SAVP 0\r\n"), "{offer}");
    assert!(offer.contains("a=encryption:required"), "{offer}");
    assert!(
        offer.contains(" typ relay "),
        "TURN candidates too: {offer}"
    );
    assert!(!offer.contains(KEY), "the caller's key stays on leg A");
    assert!(
        offer.contains(&format!(
            "c=IN IP4 {}",
            LYNC_LISTENER.split(':').next().unwrap()
        )),
        "{offer}"
    );
    assert!(!cryptos(b_invite.body()).is_empty());

    net.send_to(LYNC, LYNC_LISTENER, &lync_answer(&b_invite, true));
    let ok = net
        .take_to(CALLER)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("the 200 toward the caller");
    let answer = text(ok.body());
    assert!(answer.contains(" RTP/SAVP 0\r\n"), "{answer}");
    assert!(!answer.contains(LYNC_KEY) && !answer.contains("a=encryption"));
    let own = cryptos(ok.body());
    assert_eq!(own.len(), 1, "{answer}");
    assert_eq!(own[0].tag, 1, "the caller's tag");

    // Both legs' streams reach the host with SRTP keys; Lync's MKI is kept on its key.
    let streams: Vec<_> = net
        .events
        .iter()
        .filter_map(|event| match event {
            Event::MediaStream(stream) => Some(stream.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(streams.len(), 2);
    for stream in &streams {
        let srtp = stream.srtp.as_ref().expect("SRTP on both legs");
        if stream.side == Side::B {
            assert_eq!(srtp.receive.mki().map(<[u8]>::to_vec), Some(vec![1]));
        }
    }
    let status = net.engine().calls().next().unwrap();
    let media = status.media.expect("anchored");
    assert_eq!(media.component, "Microsoft Lync B2BUA");
    assert_eq!(
        [media.zones[0].mode, media.zones[1].mode],
        [MediaEncryptionMode::ForceEncrypted; 2]
    );
}

#[test]
fn with_encryption_required_a_clear_caller_is_refused_and_leaves_nothing() {
    let mut net = Net::new(lync_config(Encryption::Required, MediaEncryptionMode::Auto));
    net.send(CALLER, &lync_invite("lr2", "RTP/AVP", &[]));
    let refusal = net.expect_one(CALLER, "488");
    assert!(
        refusal
            .header("Warning")
            .is_some_and(|w| w.contains("encryption is required")),
        "{}",
        refusal.text
    );
    assert!(net.take_to(LYNC).is_empty(), "nothing goes to Lync");
    assert!(net.events.iter().any(|event| matches!(
        event,
        Event::Refused {
            reason: Refusal::MediaPolicy(PolicyViolation::EncryptionRequired),
            ..
        }
    )));
    net.advance(Duration::from_secs(10));
    assert_eq!(net.engine().turn_allocations(), 0, "its relays are deleted");
    assert_eq!(net.engine().pending_work().media_ports, 0);
}

#[test]
fn with_encryption_required_a_clear_answer_from_lync_ends_the_call() {
    let mut net = Net::new(lync_config(Encryption::Required, MediaEncryptionMode::Auto));
    let key = format!("1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}");
    net.send(CALLER, &lync_invite("lr3", "RTP/SAVP", &[&key]));
    let b_invite = net.expect_one(LYNC, "INVITE");
    net.send_to(LYNC, LYNC_LISTENER, &lync_answer(&b_invite, false));
    let sent = net.take();
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(488))
    );
    let to_lync: Vec<_> = sent.iter().filter(|m| m.to == addr(LYNC)).collect();
    assert!(to_lync.iter().any(|m| m.method() == Some("ACK")));
    assert!(to_lync.iter().any(|m| m.method() == Some("BYE")));
    let record = net.history().pop().expect("a record");
    assert_eq!(record.outcome, Outcome::Rejected);
    assert_eq!(
        record.media.map(|media| media.component).as_deref(),
        Some("Microsoft Lync B2BUA")
    );
    net.advance(Duration::from_secs(10));
    assert_eq!(net.engine().turn_allocations(), 0);
    assert_eq!(net.engine().pending_work().media_ports, 0);
}

#[test]
fn with_encryption_auto_each_leg_follows_its_zone() {
    // Lync's zone is Best effort: a clear caller stays clear on leg A, Lync is offered OSRTP.
    let mut net = Net::new(lync_config(
        Encryption::Auto,
        MediaEncryptionMode::BestEffort,
    ));
    net.send(CALLER, &lync_invite("la1", "RTP/AVP", &[]));
    let b_invite = net.expect_one(LYNC, "INVITE");
    let offer = text(b_invite.body());
    assert!(offer.contains(" RTP/AVP 0\r\n"), "{offer}");
    assert!(!cryptos(b_invite.body()).is_empty(), "OSRTP: {offer}");
    assert!(offer.contains("a=encryption:optional"), "{offer}");
    net.send_to(LYNC, LYNC_LISTENER, &lync_answer(&b_invite, true));
    let ok = net
        .take_to(CALLER)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("the 200 toward the caller");
    let answer = text(ok.body());
    assert!(
        answer.contains(" RTP/AVP 0\r\n") && !answer.contains("a=crypto"),
        "{answer}"
    );
    let media = net.engine().calls().next().unwrap().media.unwrap();
    assert_eq!(media.streams.len(), 1);
    let [a, b] = &media.streams[0].legs;
    assert_eq!(a.suite, None, "leg A clear");
    assert_eq!(
        b.suite.as_deref(),
        Some("AES_CM_128_HMAC_SHA1_80"),
        "leg B SRTP"
    );
    assert_eq!(
        [media.zones[0].mode, media.zones[1].mode],
        [MediaEncryptionMode::Auto, MediaEncryptionMode::BestEffort]
    );
}

#[test]
fn with_both_zones_auto_a_lync_call_is_still_anchored() {
    let mut net = Net::new(lync_config(Encryption::Auto, MediaEncryptionMode::Auto));
    net.send(CALLER, &lync_invite("la2", "RTP/AVP", &[]));
    let b_invite = net.expect_one(LYNC, "INVITE");
    let offer = text(b_invite.body());
    assert!(
        !offer.contains("40000"),
        "TwoLeg's port, not the caller's: {offer}"
    );
    assert!(
        offer.contains("a=encryption:rejected"),
        "a mirrored clear offer: {offer}"
    );
    assert!(net.engine().calls().next().unwrap().media.is_some());
}
