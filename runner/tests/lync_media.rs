//! The Lync leg's media through the running `twoleg`: its first media line sits on the port pair
//! of its TURN allocations (on real coturn), which the SIP loop reads for the allocations' STUN.
//! Media there is relayed like any other leg's: straight from the peer (a baresip on the Lync
//! route, SRTP on that leg, clear on the caller's), and through the TURN relay (a peer sending to
//! TwoLeg's relayed address: coturn hands TwoLeg Data indications, and TwoLeg answers through
//! Send indications, which coturn delivers from the relayed address).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::baresip::{Baresip, require_baresip};
use common::coturn::Coturn;
use common::*;

/// TwoLeg on `ip` whose only route goes through the Lync B2BUA (Offer TURN services on, one
/// coturn) to `lync:5090` or `lync:5070`; the caller's address in a Force unencrypted zone, the
/// Lync side's in a zone of mode `lync_mode`.
fn lync_config(ip: &str, caller: &str, lync: &str, turn: &str, lync_mode: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "udp", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "to Lync", "destination": "{lync}", "lync": true }} ],
  "zones": [
    {{ "name": "callers", "peers": ["{caller}"], "media_encryption_mode": "force_unencrypted" }},
    {{ "name": "lync", "peers": ["{}"], "media_encryption_mode": "{lync_mode}" }}
  ],
  "lync_b2bua": {{ "enabled": true, "offer_turn_services": true,
                   "media_port_range": {{ "start": 47000, "end": 47099 }} }},
  "turn_servers": [ {{ "address": "{turn}", "port": 3478, "description": "coturn",
                       "username": "alice", "password": "secret" }} ],
  "admin": {{ "listen": "{ip}:8080" }}
}}"#,
        lync.rsplit_once(':').map_or(lync, |(host, _)| host)
    )
}

fn counters(leg: &serde_json::Value) -> (u64, u64) {
    let counters = &leg["counters"];
    (
        counters["packets_received"].as_u64().unwrap_or(0),
        counters["packets_sent"].as_u64().unwrap_or(0),
    )
}

#[test]
fn an_srtp_lync_side_talks_to_a_clear_caller_straight_on_the_turn_port_pair() {
    require_baresip();
    let dir = tempfile::tempdir().unwrap();
    let (ip, caller_ip, lync_ip) = (ip(150), ip(151), ip(152));
    let _turn = Coturn::start(dir.path(), "127.0.0.153", (47_400, 47_449));
    let config = lync_config(
        &ip,
        &caller_ip,
        &format!("{lync_ip}:5090"),
        "127.0.0.153",
        "force_encrypted",
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let lync = Baresip::udp(dir.path(), "lync", &lync_ip, ";mediaenc=srtp", None, 30);
    std::thread::sleep(Duration::from_millis(500));
    let target = format!("sip:lync@{ip}:5060");
    let mut caller = Baresip::udp(dir.path(), "caller", &caller_ip, "", Some(&target), 7);
    caller.wait(Duration::from_secs(20));

    let record = runner.single_record();
    assert_eq!(
        record["media"]["component"], "Microsoft Lync B2BUA",
        "{record:#}"
    );
    assert_eq!(record["turn"]["relay"]["state"], "allocated", "{record:#}");
    let legs = media_legs(&record);
    assert!(
        legs[0]["suite"].is_null(),
        "the caller's leg is clear: {record:#}"
    );
    assert!(
        legs[1]["suite"].is_string(),
        "the Lync leg is SRTP: {record:#}"
    );
    let lync_local: SocketAddr = legs[1]["local"].as_str().unwrap().parse().unwrap();
    assert!(
        (47_000..=47_099).contains(&lync_local.port()),
        "the Lync leg's media is on its TURN port pair: {record:#}"
    );
    for leg in &legs {
        let (received, sent) = counters(leg);
        assert!(
            received >= 200 && sent >= 200,
            "{leg:#}\ncaller:\n{}\nlync:\n{}\n{}",
            caller.text(),
            lync.text(),
            runner.log_text()
        );
        assert_eq!(leg["counters"]["lost"], 0, "{leg:#}");
    }
    // The Lync side's RTCP summary (printed when TwoLeg's BYE ends its call, which may be a
    // moment after the call reached history): the caller's tone arrived, protected by TwoLeg
    // for that leg.
    eventually(Duration::from_secs(5), || {
        lync.text()
            .lines()
            .any(|line| line.starts_with("EX=BareSip"))
    });
    let text = lync.text();
    let summary = text
        .lines()
        .find(|line| line.starts_with("EX=BareSip"))
        .unwrap_or_else(|| panic!("no RTCP summary:\n{text}"));
    let received: u64 = summary
        .split(';')
        .find_map(|part| part.strip_prefix("PR="))
        .and_then(|value| value.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("PR in {summary}"));
    assert!(received >= 200, "{summary}");
}

/// A media peer behind the Lync side's SDP address: it sends G.711 to TwoLeg's relayed address
/// on coturn, and counts what comes back from there.
struct RelayedPeer {
    socket: UdpSocket,
}

impl RelayedPeer {
    fn bind(ip: &str) -> Self {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        Self { socket }
    }

    /// Sends `count` packets at 20 ms to `relay`; returns the RTP packets that came back from
    /// it meanwhile.
    fn talk(&self, relay: SocketAddr, count: u16) -> Vec<Vec<u8>> {
        let mut back = Vec::new();
        let mut buffer = [0; 2048];
        for seq in 0..count {
            let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            packet.resize(172, 0xd5);
            self.socket.send_to(&packet, relay).unwrap();
            let until = Instant::now() + Duration::from_millis(20);
            while Instant::now() < until {
                if let Ok((n, from)) = self.socket.recv_from(&mut buffer)
                    && from == relay
                {
                    back.push(buffer[..n].to_vec());
                }
            }
        }
        back
    }
}

#[test]
fn media_through_the_turn_relay_is_unwrapped_and_answered_through_it() {
    require_baresip();
    require_sipp();
    let dir = tempfile::tempdir().unwrap();
    let (ip, caller_ip) = (ip(155), ip(156));
    let turn = Coturn::start(dir.path(), "127.0.0.157", (47_450, 47_499));
    // The Lync side: SIPp answering with SDP for its own address (media port 47_200, unread);
    // its media comes from a peer on the same address, through TwoLeg's relay.
    let config = lync_config(
        &ip,
        &caller_ip,
        &format!("{ip}:5070"),
        "127.0.0.157",
        "force_unencrypted",
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let lync_dir = dir.path().join("lync");
    std::fs::create_dir_all(&lync_dir).unwrap();
    let _lync = uas_scenario(&lync_dir, &ip, "uas_lync", &["-m", "1", "-mp", "47200"]);
    std::thread::sleep(Duration::from_millis(500));
    let target = format!("sip:lync@{ip}:5060");
    let mut caller = Baresip::udp(dir.path(), "caller", &caller_ip, "", Some(&target), 8);

    let mut relay = None;
    assert!(
        eventually(Duration::from_secs(5), || {
            relay = runner.calls().first().and_then(|call| {
                call["turn"]["relay"]["rtp"]
                    .as_str()?
                    .parse::<SocketAddr>()
                    .ok()
            });
            relay.is_some()
        }),
        "the call is up with relays:\n{:#?}\n{}",
        runner.calls(),
        runner.log_text()
    );
    let relay = relay.unwrap();
    assert!(turn.relays_to(&relay.to_string()), "{relay}");
    let peer = RelayedPeer::bind(&ip);
    let back = peer.talk(relay, 150);
    // TwoLeg latched on the relayed route at the peer's first packet and sent the caller's tone
    // back through coturn (Send indications), which delivered it from the relayed address.
    assert!(
        back.len() >= 100,
        "{} packets back through the relay\n{}",
        back.len(),
        runner.log_text()
    );
    assert!(
        back.iter()
            .all(|packet| packet[0] >> 6 == 2 && packet.len() >= 12)
    );

    caller.wait(Duration::from_secs(20));
    let record = runner.single_record();
    let legs = media_legs(&record);
    let (lync_received, lync_sent) = counters(&legs[1]);
    let (_, caller_sent) = counters(&legs[0]);
    // What the peer sent through the relay reached the caller: 150 packets, give or take what
    // was in flight when the call began.
    assert!(lync_received >= 140, "{record:#}");
    assert!(caller_sent >= 140, "{record:#}");
    assert!(lync_sent >= back.len() as u64, "{record:#}");
}
