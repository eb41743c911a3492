//! TURN relays on the Lync leg, in virtual time against simulated TURN servers: the INVITE
//! waits for an RTP and an RTCP relay, carries host and relay candidates, permissions follow the
//! far side's SDP, allocations are refreshed and deleted; wrong passwords, unreachable servers,
//! failover and health probes. The Lync B2BUA anchors the media: the Lync leg's first stream is
//! on the port pair of its relays, wherever failover takes them.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::{Config, EXAMPLE_CONFIG, ValidConfig};
use twoleg_core::status::{RelayState, TurnDecision};
use twoleg_core::turn::Health;
use twoleg_core::{Event, Instant};

const LYNC: &str = "127.0.0.1:5061";
const LYNC_LISTENER: &str = "127.0.0.1:65072";

fn example() -> Config {
    serde_json::from_str(EXAMPLE_CONFIG).unwrap()
}

fn lync_invite(call_id: &str) -> String {
    invite(call_id, &format!("z9hG4bK{call_id}"), 1, 70, "", SDP).replace(
        "sip:bob@example.com SIP/2.0",
        "sip:bob@lync.example.com SIP/2.0",
    )
}

fn relay_candidates(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ relay "))
        .map(str::to_owned)
        .collect()
}

/// The port of the first `m=` line.
fn media_port(body: &[u8]) -> u16 {
    String::from_utf8_lossy(body)
        .lines()
        .find_map(|line| line.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .expect("an audio line")
}

fn turn_of(net: &Net) -> TurnDecision {
    net.engine().calls().next().unwrap().turn
}

#[test]
fn the_lync_invite_carries_relay_candidates_from_the_chosen_server() {
    // The call below lives ten minutes without a media report: no media timeout here.
    let mut config = example();
    config.encryption_b2bua.media_timeout_s = 0;
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    net.send(CALLER, &lync_invite("t1"));
    let b_invite = net.expect_one(LYNC, "INVITE");
    let TurnDecision::Offered {
        address,
        media: Some(media),
        relay: RelayState::Allocated { rtp, rtcp, mapped },
        ..
    } = turn_of(&net)
    else {
        panic!("relays allocated: {:?}", turn_of(&net));
    };
    // Two Allocates, each first refused with 401 then granted, before the INVITE.
    let allocates: Vec<_> = net.stun.iter().filter(|s| s.1 == address).collect();
    assert_eq!(allocates.len(), 4, "{allocates:?}");
    assert!(allocates.iter().all(|s| s.2 == "Allocate request"));
    assert_eq!(
        media.ip(),
        addr(LYNC_LISTENER).ip(),
        "media on the Lync listener's IP"
    );
    assert_eq!(media.port() % 2, 0, "RTP on an even port");
    assert_eq!(mapped, media);
    assert_eq!((rtp.ip(), rtcp.ip()), (address.ip(), address.ip()));
    let body = String::from_utf8_lossy(b_invite.body()).into_owned();
    let relays = relay_candidates(b_invite.body());
    assert_eq!(relays.len(), 2, "{body}");
    assert!(
        relays[0].contains(&format!(
            " 1 UDP 16777215 {} {} typ relay raddr {} rport {}",
            rtp.ip(),
            rtp.port(),
            media.ip(),
            media.port()
        )),
        "{body}"
    );
    assert!(
        relays[1].contains(&format!(
            " 2 UDP 16777214 {} {} typ relay",
            rtcp.ip(),
            rtcp.port()
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "UDP 2130706431 {} {} typ host",
        media.ip(),
        media.port()
    )));
    assert!(body.contains("a=ice-ufrag:") && body.contains("a=ice-pwd:"));
    assert!(
        body.contains(&format!("c=IN IP4 {}", media.ip()))
            && body.contains(&format!("m=audio {} RTP/AVP 0", media.port())),
        "the Lync B2BUA anchors the media on the relays' port pair: {body}"
    );
    assert!(!body.contains("40000"), "{body}");
    assert!(
        body.contains("a=encryption:rejected"),
        "a clear offer (lync_b2bua.encryption auto) says so to Lync: {body}"
    );
    // The Lync side answers from 192.0.2.7: permissions on both relays.
    let answer = SDP_ANSWER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 192.0.2.7");
    let contact = format!("Contact: <sip:bob@{LYNC}>\r\n");
    net.send_to(
        LYNC,
        LYNC_LISTENER,
        &b_invite.reply(200, "OK", Some("lync"), &contact, &answer),
    );
    let permissions = net
        .stun
        .iter()
        .filter(|s| s.2 == "CreatePermission request")
        .count();
    assert_eq!(permissions, 2);
    // The caller's ACK goes to Lync; the call lives for ten minutes: allocations are refreshed.
    let a_tag = net
        .take()
        .into_iter()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .unwrap();
    let a_tag = a_tag.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("t1", 1, &a_tag, ""));
    net.advance(Duration::from_secs(600));
    let refreshes = net.stun.iter().filter(|s| s.2 == "Refresh request").count();
    assert_eq!(refreshes, 2 * 2, "every 240 s, both relays");
    assert_eq!(net.engine().turn_allocations(), 2);
    // Hang-up: both allocations are deleted.
    net.send(
        CALLER,
        &caller_request("BYE", "t1", "z9hG4bKt1bye", 2, &a_tag, "", ""),
    );
    let deletes = net
        .stun
        .iter()
        .filter(|s| s.2 == "Refresh (delete) request")
        .count();
    assert_eq!(deletes, 2);
    assert_eq!(net.engine().turn_allocations(), 0);
    assert_eq!(net.engine().counters().turn_allocations_open, 0);
    assert!(net.turn_servers.values().all(|s| s.live_allocations() == 0));
    let record = net.history().pop().unwrap();
    assert!(matches!(
        record.turn,
        TurnDecision::Offered {
            relay: RelayState::Allocated { .. },
            ..
        }
    ));
}

#[test]
fn a_wrong_password_is_recorded_with_401_and_the_invite_goes_without_relays() {
    let mut config = example();
    for server in &mut config.turn_servers {
        server.password = twoleg_core::config::Password::new("wrong");
    }
    let mut net = Net::new(ValidConfig::validate(config.clone()).unwrap());
    // The simulated servers still expect "secret".
    for (address, server) in &mut net.turn_servers {
        *server = twoleg_sim::SimTurnServer::new(*address, "alice", "secret", 49_152);
    }
    net.send(CALLER, &lync_invite("t2"));
    let b_invite = net.expect_one(LYNC, "INVITE");
    assert!(relay_candidates(b_invite.body()).is_empty());
    let TurnDecision::Offered {
        relay: RelayState::Failed(error),
        failed_over,
        media: Some(relay_pair),
        ..
    } = turn_of(&net)
    else {
        panic!("{:?}", turn_of(&net));
    };
    // Without relays the media is still anchored, on a pair of the Lync range of its own (the
    // failed allocations' pair is freed once they are forgotten).
    let port = media_port(b_invite.body());
    assert!((56_000..=57_000).contains(&port), "{port}");
    assert_ne!(port, relay_pair.port());
    assert_eq!(error.code, Some(401));
    assert!(failed_over.is_empty(), "failover is off by default");
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, Event::TurnUpdated { .. }))
    );
    assert_eq!(
        net.engine().turn_allocations(),
        0,
        "failed allocations are forgotten"
    );
}

#[test]
fn with_failover_a_call_gets_relays_from_another_server() {
    let mut config = example();
    config.lync_b2bua.turn_failover = true;
    config.turn_servers[1].password = twoleg_core::config::Password::new("wrong");
    let good = config.turn_servers[0].address.clone();
    let valid = ValidConfig::validate(config).unwrap();
    let mut failed_over_calls = 0;
    for i in 0..12 {
        // Another seed each round: the first choice varies.
        let mut net = Net::with_seed(valid.clone(), 100 + i);
        for (address, server) in &mut net.turn_servers {
            *server = twoleg_sim::SimTurnServer::new(*address, "alice", "secret", 49_152);
        }
        let call_id = format!("t3-{i}");
        net.send(CALLER, &lync_invite(&call_id));
        let b_invite = net.expect_one(LYNC, "INVITE");
        let TurnDecision::Offered {
            address,
            relay: RelayState::Allocated { rtp, .. },
            failed_over,
            ..
        } = turn_of(&net)
        else {
            panic!("{:?}", turn_of(&net));
        };
        assert_eq!(address.ip().to_string(), good);
        let TurnDecision::Offered {
            media: Some(relay_pair),
            ..
        } = turn_of(&net)
        else {
            unreachable!("matched above");
        };
        assert_eq!(
            media_port(b_invite.body()),
            relay_pair.port(),
            "the offer follows the relays to the server that granted them"
        );
        assert!(relay_candidates(b_invite.body())[0].contains(&format!(
            " {} {} typ relay",
            rtp.ip(),
            rtp.port()
        )));
        if let Some(first) = failed_over.first() {
            assert_eq!(first.error.code, Some(401));
            assert_ne!(first.address.ip().to_string(), good);
            failed_over_calls += 1;
        }
    }
    // Six of the seven combinations have the wrong password: most first choices fail over.
    assert!(failed_over_calls > 0);
}

#[test]
fn an_unreachable_server_holds_the_invite_only_as_long_as_configured() {
    let mut config = example();
    config.turn_servers.truncate(1);
    config.lync_b2bua.turn_allocation_timeout_ms = 2_000;
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    net.turn_servers.clear();
    net.send(CALLER, &lync_invite("t4"));
    assert!(
        net.take_to(LYNC).is_empty(),
        "the INVITE waits for the relays"
    );
    net.advance(Duration::from_millis(1_999));
    assert!(net.take_to(LYNC).is_empty());
    net.advance(Duration::from_millis(1));
    let b_invite = net.expect_one(LYNC, "INVITE");
    assert!(relay_candidates(b_invite.body()).is_empty());
    let TurnDecision::Offered {
        relay: RelayState::Failed(error),
        ..
    } = turn_of(&net)
    else {
        panic!("{:?}", turn_of(&net));
    };
    assert_eq!(error.code, None);
    assert!(error.reason.contains("2000 ms"), "{}", error.reason);
    // The given-up Allocates keep retransmitting per RFC 8489, then are forgotten.
    net.advance(Duration::from_secs(40));
    assert_eq!(net.engine().turn_allocations(), 0);
    let allocates = net
        .stun
        .iter()
        .filter(|s| s.2 == "Allocate request")
        .count();
    assert_eq!(allocates, 2 * 7, "7 transmissions of each Allocate");
}

#[test]
fn cancel_while_the_relays_are_allocating_never_reaches_lync() {
    let mut config = example();
    config.turn_servers.truncate(1);
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    let server = net.turn_servers.pop_first().unwrap();
    net.send(CALLER, &lync_invite("t5"));
    net.send(CALLER, &cancel("t5", "z9hG4bKt5", 1));
    let to_caller: Vec<_> = net
        .take_to(CALLER)
        .into_iter()
        .filter_map(|m| m.status())
        .collect();
    assert!(to_caller.contains(&487), "{to_caller:?}");
    assert_eq!(net.engine().call_count(), 0);
    // The server answers late: the granted relays are deleted at once.
    net.turn_servers.insert(server.0, server.1);
    net.advance(Duration::from_secs(2));
    assert!(net.take_to(LYNC).is_empty(), "no INVITE ever went to Lync");
    assert_eq!(net.engine().turn_allocations(), 0);
    assert_eq!(
        net.turn_servers[&server.0].granted(),
        2,
        "granted late, then deleted"
    );
    assert!(net.turn_servers.values().all(|s| s.live_allocations() == 0));
}

#[test]
fn health_probes_mark_a_silent_server_down_and_the_selector_skips_it() {
    let mut config = example();
    config.turn_servers.truncate(2);
    config.turn_servers[1].additional_addresses.clear();
    config.turn_health.probe_interval_ms = 1_000;
    config.turn_health.failures_before_down = 2;
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    let silent = addr("127.0.0.3:3478");
    let server = net.turn_servers.remove(&silent).unwrap();
    net.advance(Duration::from_millis(1_500));
    assert!(
        !net.events
            .iter()
            .any(|e| matches!(e, Event::TurnHealth { .. }))
    );
    net.advance(Duration::from_secs(1));
    let down: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TurnHealth {
                address, health, ..
            } => Some((*address, *health)),
            _ => None,
        })
        .collect();
    assert_eq!(
        down,
        vec![(silent, Health::Down)],
        "down after two missed probes"
    );
    let counters = net.engine().counters();
    assert_eq!(counters.turn_probes_sent, 6, "three rounds to two servers");
    assert_eq!(
        counters.turn_probes_answered, 3,
        "only the live server answered"
    );
    for i in 0..20 {
        net.send(CALLER, &lync_invite(&format!("t6-{i}")));
        let TurnDecision::Offered { address, .. } = net.engine().calls().last().unwrap().turn
        else {
            panic!();
        };
        assert_ne!(address, silent);
    }
    net.turn_servers.insert(silent, server);
    net.advance(Duration::from_secs(1));
    assert!(net.events.iter().any(
        |e| matches!(e, Event::TurnHealth { address, health: Health::Up, .. } if *address == silent)
    ));
}

#[test]
fn the_simulator_runs_a_lync_call_through_its_simulated_turn_servers() {
    let sim = simulated_lync_call(example());
    let record = sim
        .engine()
        .history()
        .iter()
        .next()
        .cloned()
        .expect("the call ended");
    assert!(
        matches!(
            record.turn,
            TurnDecision::Offered {
                relay: RelayState::Allocated { .. },
                ..
            }
        ),
        "{:?}",
        record.turn
    );
    let ladder: Vec<String> = sim.ladder().iter().map(|d| d.summary()).collect();
    for step in [
        "Allocate request",
        "Allocate error 401",
        "Allocate success",
        "Refresh (delete) success",
    ] {
        assert!(ladder.iter().any(|s| s == step), "{step}: {ladder:#?}");
    }
    assert!(sim.turn_servers().all(|s| s.live_allocations() == 0));
    assert_eq!(sim.turn_servers().map(|s| s.granted()).sum::<u64>(), 2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever a TURN server (or anyone who learned the transaction id) answers, the engine
    /// neither panics nor loses the call: the INVITE still reaches Lync, the call still ends.
    #[test]
    fn any_answer_to_an_allocate_leaves_the_call_whole(
        class in 0u16..4,
        attributes in proptest::collection::vec(
            (proptest::sample::select(vec![0x0001u16, 0x0006, 0x0008, 0x0009, 0x000D, 0x0014,
                0x0015, 0x0016, 0x0020, 0x8023, 0x8028, 0x7777]),
             proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)),
            0..6),
    ) {
        let mut config = example();
        config.turn_servers.truncate(1);
        let mut net = Net::new(ValidConfig::validate(config).unwrap());
        let server = net.turn_servers.pop_first().unwrap().0;
        net.send(CALLER, &lync_invite("fz"));
        let (media, _, _, request) = net.stun.iter().find(|s| s.1 == server).cloned().unwrap();
        // Allocate (0x003) with the class bits of `class`.
        let kind: u16 = 0x0003 | ((class & 1) << 4) | ((class & 2) << 7);
        let mut answer = kind.to_be_bytes().to_vec();
        answer.extend_from_slice(&[0, 0]);
        answer.extend_from_slice(&request[4..20]);
        for (kind, value) in &attributes {
            answer.extend_from_slice(&kind.to_be_bytes());
            answer.extend_from_slice(&(value.len() as u16).to_be_bytes());
            answer.extend_from_slice(value);
            answer.resize(answer.len() + (4 - value.len() % 4) % 4, 0);
        }
        let length = (answer.len() - 20) as u16;
        answer[2..4].copy_from_slice(&length.to_be_bytes());
        net.send_bytes(&server.to_string(), &media.to_string(), &answer);
        net.send_bytes(&server.to_string(), B2BUA, &answer);
        net.advance(Duration::from_secs(4));
        let invites = net.take_to(LYNC).into_iter().filter(|m| m.method() == Some("INVITE")).count();
        proptest::prop_assert!(invites >= 1, "the INVITE reached Lync");
        net.send(CALLER, &cancel("fz", "z9hG4bKfz", 1));
        net.advance(Duration::from_secs(60));
        proptest::prop_assert_eq!(net.engine().call_count(), 0);
        proptest::prop_assert_eq!(net.engine().turn_allocations(), 0);
    }
}

#[test]
fn the_simulator_is_idle_when_only_health_probes_are_left() {
    let mut config = example();
    config.turn_health.probe_interval_ms = 1_000;
    let sim = simulated_lync_call(config);
    assert_eq!(sim.engine().history().len(), 1);
    assert!(sim.engine().is_idle());
    assert!(
        sim.now() < Instant::from_nanos(120_000_000_000),
        "stopped at {}",
        sim.now()
    );
    let probes = sim
        .ladder()
        .iter()
        .filter(|d| d.summary() == "Binding success")
        .count();
    assert!(probes > 0, "the simulated TURN servers answered the probes");
    assert!(
        sim.engine()
            .turn_servers()
            .iter()
            .all(|(_, _, h)| h == Health::Up)
    );
}

#[test]
fn a_call_from_lync_gets_relay_candidates_in_the_answer_toward_lync() {
    // Lync's front end at 127.0.0.9 calls in; the default route takes the call to the callee.
    let mut config = example();
    config.turn_servers.truncate(1);
    config.lync_b2bua.signalling_destination = "127.0.0.9:5061".to_owned();
    config.routes.retain(|r| !r.lync);
    config.routes.push(twoleg_core::config::Route {
        name: "everything else".to_owned(),
        destination: CALLEE.to_owned(),
        ..Default::default()
    });
    let mut net = Net::new(ValidConfig::validate(config).unwrap());
    const LYNC_FE: &str = "127.0.0.9:5061";
    let offer = SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 192.0.2.44");
    let text = invite("in1", "z9hG4bKin1", 1, 70, "", &offer).replace(CALLER, LYNC_FE);
    net.send(LYNC_FE, &text);
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert!(
        relay_candidates(b_invite.body()).is_empty(),
        "the leg away from Lync gets no candidates"
    );
    let b_offer = String::from_utf8_lossy(b_invite.body()).into_owned();
    assert!(
        !b_offer.contains("192.0.2.44") && !b_offer.contains("a=encryption"),
        "the callee sees TwoLeg's address, not Lync's: {b_offer}"
    );
    let TurnDecision::Offered {
        leg,
        media: Some(relay_pair),
        relay: RelayState::Allocated { rtp, .. },
        ..
    } = turn_of(&net)
    else {
        panic!("{:?}", turn_of(&net));
    };
    assert_eq!(leg, twoleg_core::status::Side::A);
    let permissions = net
        .stun
        .iter()
        .filter(|s| s.2 == "CreatePermission request")
        .count();
    assert_eq!(permissions, 2, "Lync's own address from its offer");
    net.send(CALLEE, &b_invite.answer(Some("bob"), SDP_ANSWER));
    let answer = net
        .take_to(LYNC_FE)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("the 200 toward Lync");
    let relays = relay_candidates(answer.body());
    assert_eq!(
        relays.len(),
        2,
        "{}",
        String::from_utf8_lossy(answer.body())
    );
    assert!(relays[0].contains(&format!(" {} {} typ relay", rtp.ip(), rtp.port())));
    assert_eq!(
        media_port(answer.body()),
        relay_pair.port(),
        "the answer toward Lync names the relays' port pair"
    );
    let record = net.engine().calls().next().unwrap();
    assert_eq!(
        record.media.map(|media| media.component).as_deref(),
        Some("Microsoft Lync B2BUA")
    );
}

#[test]
fn a_lync_signalling_destination_given_by_name_recognises_calls_from_its_addresses() {
    use twoleg_core::dns::{DnsRecord, RecordData, RecordKind};
    let mut config = example();
    config.turn_servers.truncate(1);
    config.lync_b2bua.signalling_destination = "pool.lync.example".to_owned();
    config.routes.retain(|r| !r.lync);
    config.routes.push(twoleg_core::config::Route {
        name: "everything else".to_owned(),
        destination: CALLEE.to_owned(),
        ..Default::default()
    });
    let record = |data| DnsRecord { ttl_s: 3_600, data };
    let dns = vec![
        twoleg_sim::DnsEntry {
            name: "_sips._tcp.pool.lync.example".to_owned(),
            kind: RecordKind::Srv,
            records: vec![record(RecordData::Srv {
                priority: 1,
                weight: 1,
                port: 5061,
                target: "fe1.lync.example".to_owned(),
            })],
        },
        twoleg_sim::DnsEntry {
            name: "fe1.lync.example".to_owned(),
            kind: RecordKind::A,
            records: vec![record(RecordData::Address("127.0.0.9".parse().unwrap()))],
        },
    ];
    let mut net = Net::with_dns(ValidConfig::validate(config).unwrap(), dns.clone());
    assert!(
        net.dns_queries.iter().any(|q| q.name == "fe1.lync.example"),
        "resolved from the start: {:?}",
        net.dns_queries
    );
    // From the pool's front end: a call from Lync (its leg A gets the TURN relays).
    let text = invite("ln1", "z9hG4bKln1", 1, 70, "", SDP).replace(CALLER, "127.0.0.9:5061");
    net.send("127.0.0.9:5061", &text);
    net.expect_one(CALLEE, "INVITE");
    let TurnDecision::Offered { leg, .. } = turn_of(&net) else {
        panic!("{:?}", turn_of(&net));
    };
    assert_eq!(leg, twoleg_core::status::Side::A);
    // From elsewhere, with the same DNS: not from Lync.
    let mut net2 = Net::with_dns(net.engine().config().clone(), dns);
    let text = invite("ln2", "z9hG4bKln2", 1, 70, "", SDP).replace(CALLER, "127.0.0.10:5061");
    net2.send("127.0.0.10:5061", &text);
    net2.expect_one(CALLEE, "INVITE");
    assert!(
        !matches!(turn_of(&net2), TurnDecision::Offered { .. }),
        "{:?}",
        turn_of(&net2)
    );
}

/// One Lync call in the simulator (1 s, answered after 200 ms), run until idle.
fn simulated_lync_call(config: Config) -> twoleg_sim::Sim {
    use twoleg_sim::{CalleeScript, CallerScript, Sim, SimConfig};
    let mut sim = Sim::new(ValidConfig::validate(config).unwrap(), SimConfig::default());
    sim.place_call(
        Duration::ZERO,
        CallerScript {
            uri: Some("sip:bob@lync.example.com".to_owned()),
            hang_up_after: Some(Duration::from_secs(1)),
            ..Default::default()
        },
        CalleeScript::Answer {
            after: Duration::from_millis(200),
            hang_up_after: None,
        },
    );
    sim.run_until_idle().unwrap();
    sim
}
