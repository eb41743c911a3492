//! Media through the simulator: scripted endpoints offer clear RTP, SRTP or opportunistic SRTP
//! and send G.711 packets once a call is confirmed; the simulated media plane relays them as the
//! engine's media streams say, converting SRTP and RTP per leg, and reports counters back, so
//! call history shows packets per leg. The caller is at 127.0.0.1 (zone `caller`), the callee at
//! 127.0.0.2 (zone `callee`).

use std::time::Duration;

use twoleg_core::config::ValidConfig;
use twoleg_core::status::{CallRecord, Outcome};
use twoleg_sim::{
    AgentCall, CalleeScript, CallerScript, MediaSecurity, Role, Sim, SimConfig, SimPending,
};

const PACKETS: u32 = 5;

fn sim(caller_zone: &str, callee_zone: &str, callee_media: MediaSecurity) -> Sim {
    sim_with_timeout(caller_zone, callee_zone, callee_media, 60)
}

fn sim_with_timeout(
    caller_zone: &str,
    callee_zone: &str,
    callee_media: MediaSecurity,
    media_timeout_s: u64,
) -> Sim {
    let config = ValidConfig::from_json(&format!(
        r#"{{
  "sip": {{ "listeners": [ {{ "name": "udp", "address": "127.0.0.1:5060" }} ] }},
  "routes": [ {{ "name": "far", "destination": "127.0.0.2:5070" }} ],
  "zones": [
    {{ "name": "caller", "peers": ["127.0.0.1"], "media_encryption_mode": "{caller_zone}" }},
    {{ "name": "callee", "peers": ["127.0.0.2"], "media_encryption_mode": "{callee_zone}" }}
  ],
  "encryption_b2bua": {{ "media_timeout_s": {media_timeout_s} }}
}}"#
    ))
    .unwrap();
    Sim::new(
        config,
        SimConfig {
            media_packets: PACKETS,
            callee_media,
            ..SimConfig::default()
        },
    )
}

/// One call with the caller offering `media`, hung up after a second; run until idle.
fn one_call(sim: &mut Sim, media: MediaSecurity) {
    call_lasting(sim, media, Duration::from_secs(1));
}

/// One call with the caller offering `media`, answered after 100 ms and hung up by the caller
/// `lasting` after that; run until idle.
fn call_lasting(sim: &mut Sim, media: MediaSecurity, lasting: Duration) {
    sim.place_call(
        Duration::ZERO,
        CallerScript {
            hang_up_after: Some(lasting),
            media,
            ..Default::default()
        },
        CalleeScript::Answer {
            after: Duration::from_millis(100),
            hang_up_after: None,
        },
    );
    sim.run_until_idle().unwrap();
}

fn agent(sim: &Sim, role: Role) -> AgentCall {
    let mut calls: Vec<AgentCall> = match role {
        Role::Caller => sim.caller_calls().cloned().collect(),
        Role::Callee => sim.callee_calls().cloned().collect(),
    };
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls.remove(0)
}

/// Media notes of the ladder: (from, to, note).
fn media_ladder(sim: &Sim) -> Vec<(String, String, String)> {
    sim.ladder()
        .iter()
        .filter_map(|d| {
            d.media
                .clone()
                .map(|note| (d.from.to_string(), d.to.to_string(), note))
        })
        .collect()
}

fn record(sim: &Sim) -> CallRecord {
    let history: Vec<CallRecord> = sim.engine().history().iter().cloned().collect();
    assert_eq!(history.len(), 1);
    history[0].clone()
}

#[test]
fn a_clear_caller_and_a_force_encrypted_callee_exchange_media_through_twoleg() {
    let mut sim = sim("auto", "force_encrypted", MediaSecurity::Srtp);
    one_call(&mut sim, MediaSecurity::Rtp);

    let caller = agent(&sim, Role::Caller);
    let callee = agent(&sim, Role::Callee);
    assert_eq!(caller.final_status, Some(200));
    assert!(!caller.media.encrypted, "leg A is clear");
    assert!(callee.media.encrypted, "leg B is SRTP");
    for side in [&caller, &callee] {
        assert_eq!(side.media.sent, PACKETS, "{side:?}");
        assert_eq!(
            side.media.received, PACKETS,
            "every packet arrives: {side:?}"
        );
        assert_eq!(side.media.rejected, 0, "{side:?}");
    }

    // On the wire: clear RTP on leg A, SRTP on leg B, never the other way round.
    let ladder = media_ladder(&sim);
    let callee_address = "127.0.0.2";
    for (from, to, note) in &ladder {
        let on_b = from.starts_with(callee_address) || to.starts_with(callee_address);
        if on_b {
            assert!(note.starts_with("SRTP"), "{from} -> {to}: {note}");
        } else {
            assert!(note.starts_with("RTP"), "{from} -> {to}: {note}");
        }
    }
    assert_eq!(ladder.len(), 4 * PACKETS as usize, "{ladder:#?}");
    // The SRTP packets are not the clear ones: TwoLeg encrypts.
    let payloads = |to_prefix: &str| -> Vec<Vec<u8>> {
        sim.ladder()
            .iter()
            .filter(|d| d.media.is_some() && d.to.to_string().starts_with(to_prefix))
            .map(|d| d.contents.clone())
            .collect()
    };
    let to_callee = payloads(callee_address);
    assert!(
        to_callee.iter().all(|p| !p.ends_with(&[0xd5; 16])),
        "the callee gets ciphertext with a tag"
    );

    // History: per leg, what the media plane reported; the record says which leg was SRTP.
    let record = record(&sim);
    assert_eq!(record.outcome, Outcome::Completed);
    let media = record.media.expect("anchored");
    assert_eq!(media.component, "B2BUA");
    let [a, b] = &media.streams[0].legs;
    assert_eq!(a.suite, None);
    assert_eq!(
        b.suite.as_deref(),
        Some("AEAD_AES_128_GCM"),
        "the callee took TwoLeg's first crypto line"
    );
    for leg in [a, b] {
        assert_eq!(leg.counters.packets_received, u64::from(PACKETS), "{leg:?}");
        assert_eq!(leg.counters.packets_sent, u64::from(PACKETS), "{leg:?}");
        assert_eq!(leg.counters.auth_failures + leg.counters.lost, 0);
    }
    assert!(
        b.counters.bytes_received > a.counters.bytes_received,
        "SRTP adds a tag"
    );
    assert_eq!(
        sim.pending(),
        SimPending::default(),
        "every media leg closed"
    );
    assert_eq!(sim.engine().pending_work().media_ports, 0);
}

#[test]
fn best_effort_both_ways_encrypts_the_leg_that_can_and_not_the_other() {
    let mut sim = sim("best_effort", "best_effort", MediaSecurity::Rtp);
    one_call(&mut sim, MediaSecurity::Osrtp);
    let caller = agent(&sim, Role::Caller);
    let callee = agent(&sim, Role::Callee);
    assert!(
        caller.media.encrypted,
        "the OSRTP caller gets SRTP from TwoLeg"
    );
    assert!(
        !callee.media.encrypted,
        "the clear callee falls back to RTP"
    );
    assert_eq!(
        (caller.media.received, callee.media.received),
        (PACKETS, PACKETS)
    );
    let media = record(&sim).media.unwrap();
    let [a, b] = &media.streams[0].legs;
    assert_eq!(a.suite.as_deref(), Some("AES_CM_128_HMAC_SHA1_80"));
    assert_eq!(b.suite, None);
}

#[test]
fn an_srtp_caller_and_a_clear_callee_in_auto_zones_never_meet() {
    // Both zones Auto: TwoLeg does not anchor; the clear callee refuses the SAVP offer.
    let mut sim = sim("auto", "auto", MediaSecurity::Rtp);
    one_call(&mut sim, MediaSecurity::Srtp);
    let caller = agent(&sim, Role::Caller);
    assert_eq!(caller.final_status, Some(488));
    assert_eq!(caller.media.sent, 0);
    assert!(media_ladder(&sim).is_empty());
    assert!(record(&sim).media.is_none(), "nothing anchored");
}

#[test]
fn a_force_encrypted_caller_zone_refuses_a_clear_caller_with_488_and_no_media() {
    let mut sim = sim("force_encrypted", "auto", MediaSecurity::Rtp);
    one_call(&mut sim, MediaSecurity::Rtp);
    let caller = agent(&sim, Role::Caller);
    assert_eq!(caller.final_status, Some(488));
    assert!(
        sim.callee_calls().next().is_none(),
        "no leg B: the callee never hears of it"
    );
    assert!(media_ladder(&sim).is_empty());
    assert_eq!(sim.pending(), SimPending::default());
    assert_eq!(sim.engine().pending_work().media_ports, 0);
}

#[test]
fn srtp_on_both_legs_uses_two_different_keys() {
    let mut sim = sim("force_encrypted", "force_encrypted", MediaSecurity::Srtp);
    one_call(&mut sim, MediaSecurity::Srtp);
    let caller = agent(&sim, Role::Caller);
    let callee = agent(&sim, Role::Callee);
    assert!(caller.media.encrypted && callee.media.encrypted);
    assert_eq!(
        (caller.media.received, callee.media.received),
        (PACKETS, PACKETS)
    );
    // What the caller sent TwoLeg is not what TwoLeg sent the callee: re-encrypted per leg.
    let ladder = sim.ladder();
    let from_caller: Vec<&[u8]> = ladder
        .iter()
        .filter(|d| {
            // The caller's media ports are below TwoLeg's range.
            d.media.is_some() && d.from.ip().to_string() == "127.0.0.1" && d.from.port() < 36_000
        })
        .map(|d| d.contents.as_slice())
        .collect();
    let to_callee: Vec<&[u8]> = ladder
        .iter()
        .filter(|d| d.media.is_some() && d.to.ip().to_string() == "127.0.0.2")
        .map(|d| d.contents.as_slice())
        .collect();
    assert_eq!(from_caller.len(), PACKETS as usize);
    assert_eq!(to_callee.len(), PACKETS as usize);
    for (sent, relayed) in from_caller.iter().zip(&to_callee) {
        assert_eq!(sent[..12], relayed[..12], "the same RTP header");
        assert_ne!(sent[12..], relayed[12..], "another key on leg B");
    }
}

#[test]
fn a_call_whose_media_stops_ends_after_the_media_timeout_with_bye_on_both_legs() {
    let mut sim = sim_with_timeout("auto", "force_encrypted", MediaSecurity::Srtp, 10);
    // The caller would stay two minutes; its media stops after 5 packets (0.1 s).
    call_lasting(&mut sim, MediaSecurity::Rtp, Duration::from_secs(120));
    let record = record(&sim);
    assert_eq!(record.outcome, Outcome::TimedOut, "{record:?}");
    assert!(record.reason.contains("media timeout"), "{}", record.reason);
    let answered = record.answered_at.unwrap();
    let lasted = record.ended_at.saturating_since(answered);
    assert!(
        lasted >= Duration::from_secs(10) && lasted < Duration::from_secs(11),
        "ten seconds after the last packet: {lasted:?}"
    );
    for role in [Role::Caller, Role::Callee] {
        let call = agent(&sim, role);
        assert_eq!(call.how, "peer hung up", "TwoLeg sent BYE: {call:?}");
    }
    assert_eq!(sim.pending(), SimPending::default());
    assert_eq!(sim.engine().pending_work().media_ports, 0);
}

#[test]
fn media_that_keeps_flowing_keeps_the_call_past_the_media_timeout() {
    let config = sim_with_timeout("auto", "force_encrypted", MediaSecurity::Srtp, 5)
        .engine()
        .config()
        .clone();
    // 750 packets each way: 15 s of media at 50 packets/s, for a call of 12 s.
    let mut sim = Sim::new(
        config,
        SimConfig {
            media_packets: 750,
            callee_media: MediaSecurity::Srtp,
            keep_log: false,
            ..SimConfig::default()
        },
    );
    call_lasting(&mut sim, MediaSecurity::Rtp, Duration::from_secs(12));
    let record = record(&sim);
    assert_eq!(record.outcome, Outcome::Completed, "{record:?}");
    let legs = &record.media.expect("anchored").streams[0].legs;
    assert!(legs[0].counters.packets_received >= 500, "{legs:?}");
}
