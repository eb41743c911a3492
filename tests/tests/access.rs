//! Who may call: a zone that refuses calls (403) or drops them, a zone that checks credentials
//! (407 with SHA-256 and MD5 challenges, RFC 3261 §22 digest with qop=auth: right credentials
//! go through, a wrong password, a replayed nonce count and a stale nonce do not), credentials
//! never relayed, flood protection per source in virtual time, and the embedded default
//! accepting calls from loopback only. The test computes every digest response itself.

mod common;

use std::time::Duration;

use common::*;
use md5::{Digest, Md5};
use sha2::Sha256;
use twoleg_core::auth::AuthFailure;
use twoleg_core::config::{Config, ValidConfig};
use twoleg_core::status::{Admission, CallerAuthentication};
use twoleg_core::{DropReason, Event, Refusal};

const STRANGER: &str = "127.0.0.66:5080";

/// Zones: the caller's (127.0.0.1) with `policy` and `calls`; 127.0.0.66 in the Default Zone,
/// which refuses calls.
fn config(policy: &str, calls: &str, extra: &str) -> ValidConfig {
    ValidConfig::from_json(&format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "callee", "destination": "{CALLEE}" }} ],
             "zones": [ {{ "name": "callers", "peers": ["127.0.0.1", "127.0.0.70"],
                          "calls": "{calls}", "authentication_policy": "{policy}" }} ],
             "default_zone": {{ "calls": "refuse" }},
             "authentication": {{ "realm": "twoleg.test", "nonce_lifetime_s": 60,
                                  "credentials": [ {{ "username": "alice", "password": "wonderland" }} ] }}
             {extra} }}"#
    ))
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(algorithm: &str, text: &str) -> String {
    match algorithm {
        "MD5" => hex(&Md5::digest(text.as_bytes())),
        _ => hex(&Sha256::digest(text.as_bytes())),
    }
}

/// The challenge's nonce for `algorithm`, from a 407.
fn nonce_of(challenge: &Msg, algorithm: &str) -> String {
    let header = challenge
        .headers("Proxy-Authenticate")
        .into_iter()
        .find(|h| h.contains(&format!("algorithm={algorithm}")))
        .unwrap_or_else(|| panic!("a {algorithm} challenge in {}", challenge.text));
    let start = header.find("nonce=\"").unwrap() + 7;
    header[start..].split('"').next().unwrap().to_owned()
}

/// `Proxy-Authorization` for an INVITE to `sip:bob@example.com`, as a client computes it.
fn credentials(algorithm: &str, user: &str, password: &str, nonce: &str, nc: u32) -> String {
    let (realm, uri, cnonce, nc) = (
        "twoleg.test",
        "sip:bob@example.com",
        "0a4f113b",
        format!("{nc:08x}"),
    );
    let ha1 = hash(algorithm, &format!("{user}:{realm}:{password}"));
    let ha2 = hash(algorithm, &format!("INVITE:{uri}"));
    let response = hash(
        algorithm,
        &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
    );
    format!(
        "Proxy-Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm={algorithm}, cnonce=\"{cnonce}\", \
         qop=auth, nc={nc}\r\n"
    )
}

fn send_invite(net: &mut Net, from: &str, n: u32, extra: &str) -> Vec<Msg> {
    let text = invite(
        &format!("acc{n}"),
        &format!("z9hG4bKacc{n}"),
        1,
        70,
        extra,
        SDP,
    )
    .replace(CALLER, from);
    net.send(from, &text);
    net.take()
}

fn leg_b(sent: &[Msg]) -> Option<&Msg> {
    sent.iter().find(|m| m.to == addr(CALLEE) && m.is("INVITE"))
}

fn refusals(net: &Net) -> Vec<Refusal> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_zone_that_refuses_calls_answers_403_and_makes_no_leg_b() {
    let mut net = Net::new(config("do_not_check_credentials", "accept", ""));
    let sent = send_invite(&mut net, STRANGER, 1, "");
    assert!(
        sent.iter()
            .any(|m| m.to == addr(STRANGER) && m.status() == Some(403))
    );
    assert!(leg_b(&sent).is_none());
    assert_eq!(refusals(&net), vec![Refusal::Forbidden]);
    assert_eq!(net.engine().call_count(), 0);
    assert!(
        net.history().is_empty(),
        "no call, no record of a second leg"
    );
}

#[test]
fn a_zone_that_drops_calls_answers_nothing() {
    let mut net = Net::new(config("do_not_check_credentials", "drop", ""));
    let sent = send_invite(&mut net, CALLER, 2, "");
    assert!(sent.is_empty(), "{sent:#?}");
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::ZoneDropsCalls,
            ..
        }
    )));
    assert_eq!(net.engine().pending_work().transactions, 0);
}

#[test]
fn check_credentials_challenges_then_lets_the_right_credentials_through_and_strips_them() {
    let mut net = Net::new(config("check_credentials", "accept", ""));
    let sent = send_invite(&mut net, CALLER, 3, "");
    let challenge = sent
        .iter()
        .find(|m| m.status() == Some(407))
        .expect("407")
        .clone();
    assert!(leg_b(&sent).is_none());
    let algorithms: Vec<&str> = challenge
        .headers("Proxy-Authenticate")
        .iter()
        .map(|h| {
            if h.contains("SHA-256") {
                "SHA-256"
            } else {
                "MD5"
            }
        })
        .collect();
    assert_eq!(
        algorithms,
        vec!["SHA-256", "MD5"],
        "RFC 8760: preferred first"
    );
    assert!(challenge.headers("Proxy-Authenticate")[0].contains("qop=\"auth\""));
    assert_eq!(
        refusals(&net),
        vec![Refusal::Unauthenticated(AuthFailure::NoCredentials)]
    );
    net.send(
        CALLER,
        &caller_ack("acc3", 1, challenge.to_tag().unwrap(), ""),
    );

    let nonce = nonce_of(&challenge, "SHA-256");
    let extra = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    let sent = send_invite(&mut net, CALLER, 4, &extra);
    let b_invite = leg_b(&sent).expect("authenticated: the call goes on");
    assert!(
        b_invite.header("Proxy-Authorization").is_none(),
        "credentials are not relayed: {}",
        b_invite.text
    );
    assert!(
        !format!("{:?}", net.events).contains("Digest username"),
        "events carry no credentials"
    );
    // The call says who the caller authenticated as, and its zone; nothing of the secret.
    let calls: Vec<_> = net.engine().calls().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].admission,
        Some(Admission {
            zone: "callers".to_owned(),
            authentication: CallerAuthentication::Checked {
                username: "alice".to_owned()
            },
        })
    );
}

#[test]
fn credentials_that_do_not_fit_the_challenge_are_refused() {
    let mut net = Net::new(config("check_credentials", "accept", ""));
    let sent = send_invite(&mut net, CALLER, 80, "");
    let nonce = nonce_of(
        sent.iter().find(|m| m.status() == Some(407)).unwrap(),
        "SHA-256",
    );
    let right = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    let cases = [
        (
            right.replace(
                "uri=\"sip:bob@example.com\"",
                "uri=\"sip:carol@example.com\"",
            ),
            AuthFailure::Malformed,
        ),
        (right.replace(", qop=auth", ""), AuthFailure::Malformed),
        (right.replace("Digest", "Basic"), AuthFailure::Malformed),
        (
            right.replace("nc=00000001", "nc=zz"),
            AuthFailure::Malformed,
        ),
        (
            right.replace("realm=\"twoleg.test\"", "realm=\"elsewhere\""),
            AuthFailure::NoCredentials,
        ),
    ];
    for (n, (extra, failure)) in cases.into_iter().enumerate() {
        let sent = send_invite(&mut net, CALLER, 81 + n as u32, &extra);
        assert!(leg_b(&sent).is_none(), "{extra}");
        assert!(sent.iter().any(|m| m.status() == Some(407)));
        assert_eq!(
            refusals(&net).last(),
            Some(&Refusal::Unauthenticated(failure)),
            "{extra}"
        );
    }
    // The unharmed credentials still go through: none of the above used the count up.
    assert!(leg_b(&send_invite(&mut net, CALLER, 90, &right)).is_some());
}

#[test]
fn an_algorithm_not_offered_is_refused() {
    let extra = r#", "authentication": { "realm": "twoleg.test", "algorithms": ["MD5"],
                     "credentials": [ { "username": "alice", "password": "wonderland" } ] }"#;
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "destination": "{CALLEE}" }} ],
             "default_zone": {{ "authentication_policy": "check_credentials" }} {extra} }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    let sent = send_invite(&mut net, CALLER, 91, "");
    let challenge = sent.iter().find(|m| m.status() == Some(407)).unwrap();
    assert_eq!(challenge.headers("Proxy-Authenticate").len(), 1, "MD5 only");
    let nonce = nonce_of(challenge, "MD5");
    let sha = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    assert!(leg_b(&send_invite(&mut net, CALLER, 92, &sha)).is_none());
    assert_eq!(
        refusals(&net).last(),
        Some(&Refusal::Unauthenticated(AuthFailure::Malformed))
    );
}

#[test]
fn a_nonce_from_another_engine_with_the_right_password_is_challenged_again_as_stale() {
    // A restart (or a fresh engine instance) has a new nonce secret: the client's nonce is
    // not TwoLeg's any more, but its password is right, so it is told stale=true.
    let mut first = Net::with_seed(config("check_credentials", "accept", ""), 1);
    let sent = send_invite(&mut first, CALLER, 93, "");
    let nonce = nonce_of(
        sent.iter().find(|m| m.status() == Some(407)).unwrap(),
        "SHA-256",
    );
    let mut net = Net::with_seed(config("check_credentials", "accept", ""), 2);
    send_invite(&mut net, CALLER, 94, "");
    let right = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    let sent = send_invite(&mut net, CALLER, 95, &right);
    assert!(leg_b(&sent).is_none());
    let again = sent.iter().find(|m| m.status() == Some(407)).expect("407");
    assert!(again.headers("Proxy-Authenticate")[0].contains("stale=true"));
    assert_eq!(
        refusals(&net).last(),
        Some(&Refusal::Unauthenticated(AuthFailure::UnknownNonce))
    );
    // A wrong password with that nonce: not stale, just wrong.
    let wrong = credentials("SHA-256", "alice", "looking-glass", &nonce, 1);
    let sent = send_invite(&mut net, CALLER, 96, &wrong);
    let again = sent.iter().find(|m| m.status() == Some(407)).expect("407");
    assert!(!again.headers("Proxy-Authenticate")[0].contains("stale"));
}

#[test]
fn a_challenge_from_the_callee_reaches_the_caller_as_403_without_it() {
    let mut net = Net::new(config("do_not_check_credentials", "accept", ""));
    let sent = send_invite(
        &mut net,
        CALLER,
        97,
        "Proxy-Authorization: Digest username=\"x\"\r\n",
    );
    let b_invite = leg_b(&sent).expect("leg B").clone();
    assert!(
        b_invite.header("Proxy-Authorization").is_none(),
        "not relayed"
    );
    net.send(
        CALLEE,
        &b_invite.reply(
            407,
            "Proxy Authentication Required",
            Some("bob"),
            "Proxy-Authenticate: Digest realm=\"far\", nonce=\"n\", qop=\"auth\"\r\n",
            "",
        ),
    );
    let forbidden = net.expect_one(CALLER, "403");
    assert!(forbidden.header("Proxy-Authenticate").is_none());
}

#[test]
fn md5_credentials_go_through_too() {
    let mut net = Net::new(config("check_credentials", "accept", ""));
    let sent = send_invite(&mut net, CALLER, 5, "");
    let challenge = sent.iter().find(|m| m.status() == Some(407)).unwrap();
    let extra = credentials("MD5", "alice", "wonderland", &nonce_of(challenge, "MD5"), 1);
    assert!(leg_b(&send_invite(&mut net, CALLER, 6, &extra)).is_some());
}

#[test]
fn a_wrong_password_an_unknown_user_and_a_replayed_count_get_407_again_and_no_leg_b() {
    let mut net = Net::new(config("check_credentials", "accept", ""));
    let sent = send_invite(&mut net, CALLER, 7, "");
    let nonce = nonce_of(
        sent.iter().find(|m| m.status() == Some(407)).unwrap(),
        "SHA-256",
    );
    let cases = [
        (
            credentials("SHA-256", "alice", "looking-glass", &nonce, 1),
            AuthFailure::WrongResponse,
        ),
        (
            credentials("SHA-256", "mallory", "wonderland", &nonce, 1),
            AuthFailure::UnknownUser,
        ),
    ];
    for (n, (extra, failure)) in cases.into_iter().enumerate() {
        let sent = send_invite(&mut net, CALLER, 10 + n as u32, &extra);
        assert!(sent.iter().any(|m| m.status() == Some(407)), "{sent:#?}");
        assert!(leg_b(&sent).is_none());
        assert_eq!(
            refusals(&net).last(),
            Some(&Refusal::Unauthenticated(failure))
        );
    }
    // The right credentials once: through. The same again (a captured INVITE sent anew, with
    // a new Call-ID and branch): refused. A higher count: through.
    let right = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    assert!(leg_b(&send_invite(&mut net, CALLER, 20, &right)).is_some());
    let sent = send_invite(&mut net, STRANGER.replace("66", "70").as_str(), 21, &right);
    assert!(leg_b(&sent).is_none(), "replayed");
    assert_eq!(
        refusals(&net).last(),
        Some(&Refusal::Unauthenticated(AuthFailure::Replayed))
    );
    let next = credentials("SHA-256", "alice", "wonderland", &nonce, 2);
    assert!(leg_b(&send_invite(&mut net, CALLER, 22, &next)).is_some());
}

#[test]
fn a_nonce_past_its_lifetime_is_challenged_again_as_stale() {
    let mut net = Net::new(config("check_credentials", "accept", ""));
    let sent = send_invite(&mut net, CALLER, 30, "");
    let nonce = nonce_of(
        sent.iter().find(|m| m.status() == Some(407)).unwrap(),
        "SHA-256",
    );
    net.advance(Duration::from_secs(61));
    net.take();
    let extra = credentials("SHA-256", "alice", "wonderland", &nonce, 1);
    let sent = send_invite(&mut net, CALLER, 31, &extra);
    let again = sent.iter().find(|m| m.status() == Some(407)).expect("407");
    assert!(again.headers("Proxy-Authenticate")[0].contains("stale=true"));
    assert_ne!(nonce_of(again, "SHA-256"), nonce, "a new nonce");
    assert!(leg_b(&sent).is_none());
}

#[test]
fn treat_as_authenticated_and_do_not_check_credentials_are_not_challenged() {
    for (policy, authentication) in [
        (
            "treat_as_authenticated",
            CallerAuthentication::TreatedAsAuthenticated,
        ),
        ("do_not_check_credentials", CallerAuthentication::NotChecked),
    ] {
        let mut net = Net::new(config(policy, "accept", ""));
        let sent = send_invite(&mut net, CALLER, 40, "");
        assert!(leg_b(&sent).is_some(), "{policy}");
        assert!(!sent.iter().any(|m| m.status() == Some(407)));
        let admission = net.engine().calls().next().unwrap().admission;
        assert_eq!(
            admission,
            Some(Admission {
                zone: "callers".to_owned(),
                authentication,
            }),
            "{policy}"
        );
    }
}

#[test]
fn a_flooding_source_is_refused_for_the_block_and_other_sources_are_not() {
    let extra = r#", "flood_protection": { "max_requests_per_second": 5, "block_s": 10 }"#;
    let mut net = Net::new(config("do_not_check_credentials", "accept", extra));
    let flooder = "127.0.0.70:5090";
    for n in 0..5 {
        assert!(leg_b(&send_invite(&mut net, flooder, 50 + n, "")).is_some());
    }
    let sent = send_invite(&mut net, flooder, 55, "");
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert_eq!(busy.header("Retry-After"), Some("10"));
    assert!(leg_b(&sent).is_none());
    // Sent once, statelessly: no transaction, no retransmission.
    let before = net.engine().pending_work().transactions;
    net.advance(Duration::from_millis(1_600));
    assert!(
        !net.take()
            .iter()
            .any(|m| m.to == addr(flooder) && m.status() == Some(503)),
        "the 503 is not retransmitted"
    );
    assert!(net.engine().pending_work().transactions <= before);
    // Another source in the same second: untouched.
    assert!(leg_b(&send_invite(&mut net, CALLER, 56, "")).is_some());
    // Still blocked five seconds on, counted; free after the block.
    net.advance(Duration::from_millis(3_400));
    net.take();
    let sent = send_invite(&mut net, flooder, 57, "");
    let busy = sent.iter().find(|m| m.status() == Some(503)).expect("503");
    assert_eq!(busy.header("Retry-After"), Some("5"));
    let sources = net.engine().flood_sources();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].address.to_string(), "127.0.0.70");
    assert_eq!(sources[0].requests_refused, 2);
    assert!(sources[0].blocked);
    net.advance(Duration::from_secs(5));
    assert!(leg_b(&send_invite(&mut net, flooder, 58, "")).is_some());
}

#[test]
fn with_action_drop_a_flooding_source_gets_no_answer() {
    let extra = r#", "flood_protection": { "max_requests_per_second": 1, "block_s": 10, "action": "drop" }"#;
    let mut net = Net::new(config("do_not_check_credentials", "accept", extra));
    assert!(leg_b(&send_invite(&mut net, CALLER, 60, "")).is_some());
    let sent = send_invite(&mut net, CALLER, 61, "");
    assert!(sent.is_empty(), "{sent:#?}");
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::Flooding,
            ..
        }
    )));
}

#[test]
fn the_embedded_default_takes_calls_from_loopback_only() {
    let mut net = Net::new(ValidConfig::default_config());
    assert!(leg_b(&send_invite(&mut net, CALLER, 70, "")).is_some());
    let sent = send_invite(&mut net, "192.0.2.80:5060", 71, "");
    assert!(sent.iter().any(|m| m.status() == Some(403)));
    assert!(leg_b(&sent).is_none());
}

#[test]
fn checking_credentials_with_none_configured_is_a_config_error_and_passwords_stay_hidden() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "destination": "{CALLEE}" }} ],
             "default_zone": {{ "authentication_policy": "check_credentials" }} }}"#
    );
    let problems = ValidConfig::from_json(&text).unwrap_err().to_string();
    assert!(
        problems.contains("default_zone.authentication_policy"),
        "{problems}"
    );
    let valid = config("check_credentials", "accept", "");
    let shown = format!("{valid:?}");
    assert!(!shown.contains("wonderland"), "Debug hides the password");
    let redacted: Config = valid.config().redacted();
    assert!(
        !serde_json::to_string(&redacted)
            .unwrap()
            .contains("wonderland")
    );
}

#[test]
fn in_the_simulator_a_caller_with_credentials_gets_through_after_the_407_round_and_others_do_not() {
    use twoleg_sim::{CalleeScript, CallerScript, Sim, SimConfig, SimCredentials};
    let answer = CalleeScript::Answer {
        after: Duration::from_millis(50),
        hang_up_after: None,
    };
    let caller = |password: Option<&str>| CallerScript {
        hang_up_after: Some(Duration::from_millis(300)),
        credentials: password.map(|password| SimCredentials {
            username: "alice".to_owned(),
            password: password.to_owned(),
        }),
        ..Default::default()
    };
    let mut sim = Sim::new(
        config("check_credentials", "accept", ""),
        SimConfig::default(),
    );
    sim.place_call(Duration::ZERO, caller(Some("wonderland")), answer);
    sim.place_call(
        Duration::from_secs(2),
        caller(Some("looking-glass")),
        answer,
    );
    sim.place_call(Duration::from_secs(4), caller(None), answer);
    sim.run_until_idle().unwrap();
    let finals: Vec<Option<u16>> = sim.caller_calls().map(|c| c.final_status).collect();
    assert_eq!(finals, vec![Some(200), Some(407), Some(407)]);
    let ladder: Vec<String> = sim.ladder().iter().map(|d| d.summary()).collect();
    let round: Vec<&str> = ladder
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with("INVITE") || s.starts_with("SIP/2.0 407") || s.starts_with("ACK"))
        .take(4)
        .collect();
    assert_eq!(round.len(), 4, "{ladder:#?}");
    assert!(
        round[0].starts_with("INVITE") && round[1].starts_with("SIP/2.0 407"),
        "{round:?}"
    );
    assert!(
        round[2].starts_with("ACK") && round[3].starts_with("INVITE"),
        "{round:?}"
    );
    assert_eq!(sim.engine().history().len(), 1, "one call made");
    let record = sim.engine().history().iter().next().unwrap().clone();
    assert_eq!(
        record.admission.map(|a| a.authentication),
        Some(CallerAuthentication::Checked {
            username: "alice".to_owned()
        }),
        "call history says who the caller authenticated as"
    );

    // A caller in a zone that refuses calls.
    let mut sim = Sim::new(
        config("do_not_check_credentials", "accept", ""),
        SimConfig {
            caller: addr(STRANGER),
            ..SimConfig::default()
        },
    );
    sim.place_call(Duration::ZERO, caller(None), answer);
    sim.run_until_idle().unwrap();
    let finals: Vec<Option<u16>> = sim.caller_calls().map(|c| c.final_status).collect();
    assert_eq!(finals, vec![Some(403)]);
    assert!(sim.engine().history().is_empty());
}

#[test]
fn a_refused_caller_on_a_lync_route_costs_no_turn_allocation() {
    let mut config: Config =
        serde_json::from_str(twoleg_core::config::EXAMPLE_CONFIG).expect("the example parses");
    config.default_zone.calls = twoleg_core::config::CallAcceptance::Refuse;
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    let text = invite("acc98", "z9hG4bKacc98", 1, 70, "", SDP)
        .replace(CALLER, STRANGER)
        .replace(
            "sip:bob@example.com SIP/2.0",
            "sip:bob@lync.example.com SIP/2.0",
        );
    net.send(STRANGER, &text);
    let sent = net.take();
    assert!(sent.iter().any(|m| m.status() == Some(403)), "{sent:#?}");
    assert!(
        sent.iter().all(|m| m.to == addr(STRANGER)),
        "nothing toward Lync: {sent:#?}"
    );
    assert!(
        !net.stun.iter().any(|s| s.2.starts_with("Allocate")),
        "no TURN allocation: {:?}",
        net.stun
    );
    assert_eq!(net.engine().turn_allocations(), 0);
    // The same INVITE where the default zone takes calls: the Lync leg allocates relays.
    let config: Config =
        serde_json::from_str(twoleg_core::config::EXAMPLE_CONFIG).expect("the example parses");
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    net.send(STRANGER, &text);
    assert!(net.stun.iter().any(|s| s.2.starts_with("Allocate")));
}
