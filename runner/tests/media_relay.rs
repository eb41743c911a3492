//! The runner's media plane with real endpoints: baresip (Debian `baresip-core`) with SRTP as the
//! caller in a Force encrypted zone, TwoLeg, a clear baresip callee in a Force unencrypted zone; both send a
//! 440 Hz tone. Proof from outside on a capture of `lo` (tcpdump): leg A's packets are SRTP and
//! decrypt with the key of leg A's SDP (libsrtp through pylibsrtp) to exactly the packets TwoLeg
//! sent in clear on leg B, and a key one bit off authenticates nothing. A clear caller in the
//! Force encrypted zone gets 488 and no media port stays open. A caller re-keying by re-INVITE
//! keeps its media flowing both ways.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::baresip::{Baresip, require_baresip};
use common::*;

/// TwoLeg on `ip`: every call to the callee's baresip; the caller's address in a zone of mode
/// `zones.0`, the callee's in one of `zones.1`.
fn media_config(
    ip: &str,
    caller_ip: &str,
    callee_ip: &str,
    zones: (&str, &str),
    media_timeout_s: u64,
) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "udp", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "callee", "destination": "{callee_ip}:5090" }} ],
  "zones": [
    {{ "name": "callers", "peers": ["{caller_ip}"], "media_encryption_mode": "{}" }},
    {{ "name": "callees", "peers": ["{callee_ip}"], "media_encryption_mode": "{}" }}
  ],
  "encryption_b2bua": {{ "media_timeout_s": {media_timeout_s} }},
  "admin": {{ "listen": "{ip}:8080" }}
}}"#,
        zones.0, zones.1
    )
}

/// The usual zones: the caller Force encrypted, the callee Force unencrypted (an Auto leg
/// would mirror the caller's SRTP, which a clear callee refuses).
const SRTP_TO_RTP: (&str, &str) = ("force_encrypted", "force_unencrypted");

/// How a test's call is set up.
struct Setup<'a> {
    zones: (&'a str, &'a str),
    media_timeout_s: u64,
    /// Capture `lo` with tcpdump from before the first SIP message.
    capture: bool,
    /// The caller's account parameters and how long it lives (it quits, hanging up, then).
    caller: (&'a str, u32),
    /// The callee's, likewise.
    callee: (&'a str, u32),
}

/// Who is in a test: TwoLeg on 127.0.0.n, the callee's baresip on n + 2 answering every call,
/// the caller's on n + 1 dialling TwoLeg at once.
struct Scene {
    runner: Runner,
    capture: Option<Capture>,
    callee: Baresip,
    caller: Baresip,
    ip: String,
    caller_ip: String,
    callee_ip: String,
    dir: tempfile::TempDir,
}

impl Scene {
    fn start(n: u8, setup: Setup<'_>) -> Self {
        require_baresip();
        let (ip, caller_ip, callee_ip) = (ip(n), ip(n + 1), ip(n + 2));
        let dir = tempfile::tempdir().unwrap();
        let config = media_config(
            &ip,
            &caller_ip,
            &callee_ip,
            setup.zones,
            setup.media_timeout_s,
        );
        let runner = Runner::start(&ip, &config, dir.path(), &[]);
        let capture = setup.capture.then(|| Capture::start(dir.path(), &ip));
        let (params, seconds) = setup.callee;
        let callee = Baresip::udp(dir.path(), "callee", &callee_ip, params, None, seconds);
        std::thread::sleep(Duration::from_millis(500));
        let (params, seconds) = setup.caller;
        let target = format!("sip:callee@{ip}:5060");
        let caller = Baresip::udp(
            dir.path(),
            "caller",
            &caller_ip,
            params,
            Some(&target),
            seconds,
        );
        Self {
            runner,
            capture,
            callee,
            caller,
            ip,
            caller_ip,
            callee_ip,
            dir,
        }
    }
}

fn metric(runner: &Runner, name: &str) -> u64 {
    let (_, metrics) = runner.get("/metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{metrics}"))
}

/// tcpdump writing UDP to and from one address on `lo` to a file, until dropped.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(dir: &Path, host: &str) -> Self {
        let file = dir.join("media.pcap");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(&file)
            .args(["udp", "and", "host", host])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump is installed (apt-get install tcpdump; .ci/run does this)");
        // tcpdump needs a moment before it captures.
        assert!(
            eventually(Duration::from_secs(5), || file.exists()),
            "tcpdump started no capture (it needs CAP_NET_RAW)"
        );
        std::thread::sleep(Duration::from_millis(300));
        Self { child, file }
    }

    /// Stops the capture and checks it with libsrtp (`media/check_capture.py`).
    fn check(mut self, caller: &str, twoleg: &str, callee: &str) -> serde_json::Value {
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media/check_capture.py");
        let output = Command::new("python3")
            .arg(script)
            .arg(&self.file)
            .args([caller, twoleg, callee])
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn counters(leg: &serde_json::Value) -> (u64, u64) {
    let counters = &leg["counters"];
    (
        counters["packets_received"].as_u64().unwrap_or(0),
        counters["packets_sent"].as_u64().unwrap_or(0),
    )
}

#[test]
fn an_srtp_caller_and_a_clear_callee_talk_through_twoleg_which_converts_per_leg() {
    let Scene {
        runner,
        capture,
        callee,
        mut caller,
        ip,
        caller_ip,
        callee_ip,
        dir: _dir,
    } = Scene::start(
        131,
        Setup {
            zones: SRTP_TO_RTP,
            media_timeout_s: 60,
            capture: true,
            caller: (";mediaenc=srtp-mand", 7),
            callee: ("", 30),
        },
    );

    // While the call is up, both legs' counters move in /api/calls.
    let moving = eventually(Duration::from_secs(6), || {
        let calls = runner.calls();
        let Some(legs) = calls
            .first()
            .and_then(|call| call["media"]["streams"][0]["legs"].as_array().cloned())
        else {
            return false;
        };
        legs.iter().all(|leg| {
            let (received, sent) = counters(leg);
            received > 50 && sent > 50
        })
    });
    assert!(
        moving,
        "media flows on both legs:\n{:#?}\ncaller:\n{}\ncallee:\n{}\n{}",
        runner.calls(),
        caller.text(),
        callee.text(),
        runner.log_text()
    );
    assert!(metric(&runner, "twoleg_media_streams_open") == 1);

    // Bad input on both legs' ports from a stranger mid-call: short packets, another RTP
    // version, and well-formed RTP that is not the peer's (forged SRTP on leg A, an unlatched
    // source on leg B). All dropped and counted; none reaches an endpoint (the capture check
    // below finds leg B carrying only what the caller encrypted).
    let locals: Vec<std::net::SocketAddr> = runner.calls()[0]["media"]["streams"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leg| leg["local"].as_str().unwrap().parse().unwrap())
        .collect();
    let (dropped, forged) = (
        metric(&runner, "twoleg_media_dropped_total"),
        metric(&runner, "twoleg_media_auth_failures_total"),
    );
    let stranger = std::net::UdpSocket::bind((ip.as_str(), 0)).unwrap();
    let mut junk = vec![0x80, 0, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    junk.resize(172, 0x55);
    for _ in 0..100 {
        for local in &locals {
            stranger.send_to(&[0x80, 0, 1, 2, 3], local).unwrap();
            stranger.send_to(&[0x40; 172], local).unwrap();
            stranger.send_to(&junk, local).unwrap();
        }
        // Paced, so that no socket buffer overflows on a slow machine: each one counts.
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        eventually(Duration::from_secs(3), || {
            metric(&runner, "twoleg_media_dropped_total") >= dropped + 500
                && metric(&runner, "twoleg_media_auth_failures_total") >= forged + 100
        }),
        "dropped {} (was {dropped}), forged {} (was {forged})",
        metric(&runner, "twoleg_media_dropped_total"),
        metric(&runner, "twoleg_media_auth_failures_total")
    );

    caller.wait(Duration::from_secs(15));
    let record = runner.single_record();
    let legs = media_legs(&record);
    assert!(legs[0]["suite"].is_string(), "leg A is SRTP: {record:#}");
    assert!(legs[1]["suite"].is_null(), "leg B is clear: {record:#}");
    for leg in &legs {
        let (received, sent) = counters(leg);
        assert!(received >= 200 && sent >= 200, "{leg:#}");
        // The stranger's 100 forged SRTP packets count on leg A; baresip also sends an RTCP
        // APP packet and, at hang-up, its RTCP BYE without SRTCP protection: TwoLeg refuses
        // those (and counts them), nothing else.
        assert!(
            leg["counters"]["auth_failures"].as_u64().unwrap() <= 102,
            "{leg:#}\n{}",
            runner.log_text()
        );
        assert!(leg["counters"]["lost"].as_u64().unwrap() <= 5, "{leg:#}");
    }
    assert!(
        eventually(Duration::from_secs(3), || metric(
            &runner,
            "twoleg_media_streams_open"
        ) == 0),
        "the media plane closed the line"
    );
    assert!(metric(&runner, "twoleg_media_packets_relayed_total") >= 400);
    assert!(metric(&runner, "twoleg_media_auth_failures_total") <= 102);

    // From outside: leg A is SRTP that libsrtp decrypts with the caller's key from its SDP into
    // exactly what TwoLeg sent the callee in clear; a wrong key authenticates nothing.
    let proof = capture
        .expect("capturing")
        .check(&caller_ip, &ip, &callee_ip);
    let number = |name: &str| proof[name].as_u64().unwrap_or_else(|| panic!("{proof}"));
    assert!(number("leg_a_packets") >= 200, "{proof}");
    assert_eq!(
        number("leg_a_decrypted"),
        number("leg_a_packets"),
        "{proof}"
    );
    assert_eq!(number("leg_a_forged"), 0, "{proof}");
    assert!(number("leg_b_packets") >= 200, "{proof}");
    assert!(
        number("leg_b_matching") * 100 >= number("leg_b_packets") * 99,
        "what the callee got is what the caller encrypted, and nothing else: {proof}"
    );

    // The callee's RTCP summary (baresip's rtcpsummary module, printed when TwoLeg's BYE ends
    // the call; the caller quits on its own and prints none): packets received, none lost.
    let (caller_text, callee_text) = (caller.text(), callee.text());
    let summary = callee_text
        .lines()
        .find(|line| line.starts_with("EX=BareSip"))
        .unwrap_or_else(|| {
            panic!("no RTCP summary:\ncallee:\n{callee_text}\ncaller:\n{caller_text}")
        });
    let field = |name: &str| -> Vec<u64> {
        summary
            .split(';')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} in {summary}"))
            .split(',')
            .map(|value| value.parse().unwrap_or(u64::MAX))
            .collect()
    };
    assert!(field("PR")[0] >= 200, "{summary}");
    assert!(field("PL").iter().all(|lost| *lost <= 2), "{summary}");
}

#[test]
fn a_clear_caller_in_a_force_encrypted_zone_gets_488_and_no_media_port_opens() {
    let Scene {
        runner,
        callee,
        mut caller,
        dir: _dir,
        ..
    } = Scene::start(
        134,
        Setup {
            zones: SRTP_TO_RTP,
            media_timeout_s: 60,
            capture: false,
            caller: ("", 3),
            callee: ("", 10),
        },
    );
    caller.wait(Duration::from_secs(10));
    let text = caller.text();
    assert!(
        text.contains("488"),
        "the caller is refused with 488:\n{text}"
    );
    assert!(
        !callee.text().contains("Incoming call"),
        "no leg B:\n{}",
        callee.text()
    );
    assert!(
        runner.history().is_empty(),
        "a refused INVITE leaves no record"
    );
    assert_eq!(metric(&runner, "twoleg_media_streams_open"), 0);
    let (_, calls) = runner.get("/api/calls");
    assert_eq!(calls.trim(), "[]");
}

#[test]
fn when_both_endpoints_vanish_the_media_timeout_ends_the_call_and_frees_every_port() {
    let Scene {
        runner,
        callee,
        caller,
        dir: _dir,
        ..
    } = Scene::start(
        137,
        Setup {
            zones: SRTP_TO_RTP,
            media_timeout_s: 5,
            capture: false,
            caller: (";mediaenc=srtp-mand", 60),
            callee: ("", 60),
        },
    );
    assert!(
        eventually(Duration::from_secs(6), || {
            runner.calls().first().is_some_and(|call| {
                call["media"]["streams"][0]["legs"]
                    .as_array()
                    .is_some_and(|legs| legs.iter().all(|leg| counters(leg).0 > 20))
            })
        }),
        "media flows:\n{}\n{}",
        caller.text(),
        runner.log_text()
    );
    let locals: Vec<String> = runner.calls()[0]["media"]["streams"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leg| leg["local"].as_str().unwrap().to_owned())
        .collect();
    for pid in [caller.pid(), callee.pid()] {
        let killed = Command::new("kill").args(["-9", &pid.to_string()]).status();
        assert!(killed.is_ok_and(|status| status.success()));
    }
    let killed_at = std::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(12), || runner.history().len() == 1),
        "the call ends without its endpoints:\n{}",
        runner.log_text()
    );
    let waited = killed_at.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "not before the timeout: {waited:?}"
    );
    let record = runner.history().remove(0);
    assert_eq!(record["outcome"], "timed_out", "{record:#}");
    assert!(
        record["reason"].as_str().unwrap().contains("media timeout"),
        "{record:#}"
    );
    assert!(
        eventually(Duration::from_secs(3), || metric(
            &runner,
            "twoleg_media_streams_open"
        ) == 0),
        "the media plane closed the line"
    );
    // Every port of the call can be bound again.
    for local in locals {
        let rtp: std::net::SocketAddr = local.parse().unwrap();
        let rtcp = std::net::SocketAddr::new(rtp.ip(), rtp.port() + 1);
        for port in [rtp, rtcp] {
            assert!(
                eventually(Duration::from_secs(2), || std::net::UdpSocket::bind(port)
                    .is_ok()),
                "{port} is still bound"
            );
        }
    }
}

/// A call of about four seconds between two baresips over UDP through TwoLeg, the caller's zone
/// `zones.0` and the callee's `zones.1`, each baresip with its account parameters; returns the
/// call's history record, with both outputs on failure.
fn call_through(
    n: u8,
    zones: (&str, &str),
    caller_params: &str,
    callee_params: &str,
) -> serde_json::Value {
    let Scene {
        runner,
        callee,
        mut caller,
        dir: _dir,
        ..
    } = Scene::start(
        n,
        Setup {
            zones,
            media_timeout_s: 60,
            capture: false,
            caller: (caller_params, 5),
            callee: (callee_params, 20),
        },
    );
    caller.wait(Duration::from_secs(15));
    assert!(
        eventually(Duration::from_secs(5), || runner.history().len() == 1),
        "the call ends in history:\ncaller:\n{}\ncallee:\n{}\n{}",
        caller.text(),
        callee.text(),
        runner.log_text()
    );
    let record = runner.history().remove(0);
    let legs = record["media"]["streams"][0]["legs"].clone();
    for leg in legs
        .as_array()
        .unwrap_or_else(|| panic!("anchored: {record:#}"))
    {
        let (received, sent) = counters(leg);
        assert!(
            received >= 100 && sent >= 100,
            "media both ways on {leg:#}\ncaller:\n{}\ncallee:\n{}",
            caller.text(),
            callee.text()
        );
    }
    record
}

fn suites(record: &serde_json::Value) -> [Option<String>; 2] {
    let legs = &record["media"]["streams"][0]["legs"];
    [0, 1].map(|side| legs[side]["suite"].as_str().map(str::to_owned))
}

#[test]
fn the_mirror_call_a_clear_caller_and_an_srtp_only_callee() {
    let record = call_through(
        141,
        ("force_unencrypted", "force_encrypted"),
        "",
        ";mediaenc=srtp-mand",
    );
    let [a, b] = suites(&record);
    assert_eq!(a, None, "leg A clear: {record:#}");
    assert!(b.is_some(), "leg B SRTP: {record:#}");
}

#[test]
fn best_effort_both_ways_with_opportunistic_srtp_encrypts_both_legs() {
    // baresip's `srtp` is RFC 8643 opportunistic SRTP: RTP/AVP with a=crypto.
    let record = call_through(
        144,
        ("best_effort", "best_effort"),
        ";mediaenc=srtp",
        ";mediaenc=srtp",
    );
    let [a, b] = suites(&record);
    assert!(a.is_some() && b.is_some(), "{record:#}");
}

#[test]
fn best_effort_both_ways_without_srtp_falls_back_to_clear_rtp() {
    let record = call_through(147, ("best_effort", "best_effort"), "", "");
    assert_eq!(suites(&record), [None, None], "{record:#}");
}

/// What SIPp's re-keying caller logged: the keys of TwoLeg's two answers.
fn answered_keys(dir: &Path) -> [twoleg_core::srtp::MasterKey; 2] {
    let mut keys = [None, None];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if !entry.file_name().to_string_lossy().ends_with("_logs.log") {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            for (index, prefix) in ["KEY1 ", "KEY2 "].iter().enumerate() {
                if let Some(rest) = line.strip_prefix(prefix) {
                    let inline = rest.split_whitespace().next().unwrap_or_default();
                    let value = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{inline}");
                    keys[index] = Some(twoleg_core::srtp::Crypto::parse(&value).unwrap().key);
                }
            }
        }
    }
    keys.map(|key| key.expect("SIPp logged both answers' keys"))
}

/// SIPp as an SRTP caller re-keying by re-INVITE (RFC 4568 §7.1.4) while this test carries its
/// media, a clear baresip callee: every packet authenticates with the key of its time, TwoLeg
/// answers the new key with a new one of its own and protects with it from then on.
#[test]
fn a_caller_that_re_keys_by_re_invite_keeps_its_media_flowing_both_ways() {
    use twoleg_core::srtp::{Context, MasterKey, Suite};

    require_baresip();
    require_sipp();
    let (ip, caller_ip, callee_ip) = (ip(160), ip(161), ip(162));
    let dir = tempfile::tempdir().unwrap();
    let config = media_config(&ip, &caller_ip, &callee_ip, SRTP_TO_RTP, 60);
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _callee = Baresip::udp(dir.path(), "callee", &callee_ip, "", None, 30);
    std::thread::sleep(Duration::from_millis(500));
    // The caller's media: this socket, on the address of SIPp's SDP.
    let media = std::net::UdpSocket::bind((caller_ip.as_str(), 47_610)).unwrap();
    media
        .set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let sipp_dir = dir.path().join("caller");
    std::fs::create_dir_all(&sipp_dir).unwrap();
    let (scenario, target) = (scenario("uac_rekey"), format!("{ip}:5060"));
    let mut sipp = Sipp::spawn(
        &sipp_dir,
        &[
            "-sf",
            &scenario,
            &target,
            "-s",
            "callee",
            "-i",
            &caller_ip,
            "-p",
            "5080",
            "-m",
            "1",
            "-trace_logs",
            "-trace_msg",
            "-timeout",
            "30",
            "-timeout_error",
        ],
    );
    assert!(
        eventually(Duration::from_secs(5), || runner
            .calls()
            .first()
            .is_some_and(|call| !call["answered_at"].is_null())),
        "the call is answered:\n{:#?}\n{}\n{}",
        runner.calls(),
        sipp.screen(),
        std::fs::read_dir(&sipp_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect::<String>(),
    );
    let answered = std::time::Instant::now();
    let leg_a: std::net::SocketAddr = runner.calls()[0]["media"]["streams"][0]["legs"][0]["local"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The caller sends with key 1 until 2.4 s, nothing while SIPp re-keys (its re-INVITE goes
    // at 3 s), with key 2 from 3.8 s to 5.4 s; what TwoLeg sends back is kept with its time.
    let key = |first: u8| {
        let material = (first..first + 30).collect();
        MasterKey::new(Suite::AesCm128HmacSha1_80, material, None).unwrap()
    };
    let mut senders = [Context::new(&key(1)), Context::new(&key(101))];
    let (mut sent, mut seq) = ([0u64; 2], 0u16);
    let mut back: Vec<(Duration, Vec<u8>)> = Vec::new();
    let mut next = answered;
    let mut buffer = [0; 2048];
    while answered.elapsed() < Duration::from_millis(5_400) {
        let at = answered.elapsed();
        if std::time::Instant::now() >= next {
            next += Duration::from_millis(20);
            let phase = match at.as_millis() {
                0..2_400 => Some(0),
                3_800.. => Some(1),
                _ => None,
            };
            if let Some(phase) = phase {
                let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                packet.resize(172, 0xd5);
                seq += 1;
                let protected = senders[phase].protect_rtp(&packet).unwrap();
                media.send_to(&protected, leg_a).unwrap();
                sent[phase] += 1;
            }
        }
        if let Ok((n, from)) = media.recv_from(&mut buffer)
            && from == leg_a
        {
            back.push((at, buffer[..n].to_vec()));
        }
    }
    assert_eq!(sipp.wait(Duration::from_secs(20)), 0, "{}", sipp.screen());
    let record = runner.single_record();
    let legs = media_legs(&record);
    // Every packet the caller sent, with either key, authenticated and went on to the callee.
    let total = sent[0] + sent[1];
    assert!(sent[0] >= 100 && sent[1] >= 70, "{sent:?}");
    let (a_received, _) = counters(&legs[0]);
    assert_eq!(a_received, total, "{record:#}");
    assert_eq!(legs[0]["counters"]["auth_failures"], 0, "{record:#}");
    assert_eq!(legs[0]["counters"]["replays"], 0, "{record:#}");
    let (_, b_sent) = counters(&legs[1]);
    assert!(b_sent >= total, "{record:#}");

    // TwoLeg answered the new key with a new key of its own, and protected what it sent the
    // caller with the first key before the re-INVITE and with the second after it.
    let [first, second] = answered_keys(&sipp_dir);
    assert_ne!(first, second);
    let (mut early, mut late) = (Context::new(&first), Context::new(&second));
    let before: Vec<&Vec<u8>> = back
        .iter()
        .filter(|(at, _)| *at < Duration::from_millis(2_400))
        .map(|(_, packet)| packet)
        .collect();
    let after: Vec<&Vec<u8>> = back
        .iter()
        .filter(|(at, _)| *at >= Duration::from_millis(3_800))
        .map(|(_, packet)| packet)
        .collect();
    assert!(
        before.len() >= 80 && after.len() >= 50,
        "{} {}",
        before.len(),
        after.len()
    );
    assert!(
        before
            .iter()
            .all(|packet| early.unprotect_rtp(packet).is_ok())
    );
    assert!(
        after
            .iter()
            .all(|packet| late.unprotect_rtp(packet).is_ok())
    );
}
