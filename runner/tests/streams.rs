//! SIP over TCP through the real runner: SIPp callers and callees over TCP (`-t t1`), CANCEL
//! with a connection per call (`-t tn`), a UDP caller with a TCP callee, stream framing on a raw socket (a message byte by byte, several in
//! one write, keep-alives, a missing Content-Length, a length over the limit, a connection
//! that stops mid-message), the connection limit under 2,000 idle connections, and a large
//! INVITE moved to TCP.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::*;

/// UDP and TCP listeners on `ip:5060`; the route reaches the callee on `ip:5070` over
/// `route_transport`, with a connection limit of `max`.
fn stream_config(ip: &str, route_transport: &str, max: u32, large_over_tcp: bool) -> String {
    let listener = if route_transport == "tcp" {
        "tcp"
    } else {
        "udp"
    };
    format!(
        r#"{{
  "version": 1,
  "sip": {{
    "listeners": [
      {{ "name": "udp", "address": "{ip}:5060" }},
      {{ "name": "tcp", "address": "{ip}:5060", "transport": "tcp" }}
    ],
    "connections": {{ "max": {max}, "idle_timeout_s": 600, "handshake_timeout_ms": 2000 }}
  }},
  "routes": [ {{ "name": "callee", "destination": "{ip}:5070", "listener": "{listener}",
                 "large_requests_over_tcp": {large_over_tcp} }} ],
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
}}"#
    )
}

fn options(ip: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:twoleg@{ip}:5060 SIP/2.0\r\nVia: SIP/2.0/TCP {ip}:5090;branch=z9hG4bKs{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:t@{ip}>;tag=s{n}\r\nTo: <sip:twoleg@{ip}>\r\n\
         Call-ID: stream-{n}@{ip}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads from `stream` until `count` SIP messages (status lines) have come, or 5 s pass.
fn read_answers(stream: &mut TcpStream, count: usize) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut buffer = [0; 8192];
    while text.matches("SIP/2.0 ").count() < count && std::time::Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(_) => {}
        }
    }
    text
}

/// Whether the peer closed `stream` within 5 s.
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut buffer = [0; 8192];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {}
        }
    }
    false
}

#[test]
fn sipp_calls_over_tcp_both_legs_and_a_udp_caller_with_a_tcp_callee() {
    require_sipp();
    let ip = ip(111);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &stream_config(&ip, "tcp", 1000, false),
        dir.path(),
        &[],
    );
    let mut callee = Sipp::spawn(
        dir.path(),
        &["-sn", "uas", "-i", &ip, "-p", "5070", "-t", "t1"],
    );
    let mut tcp_caller = uac(dir.path(), &ip, 5080, &["-t", "t1", "-m", "50", "-r", "25"]);
    assert_eq!(
        tcp_caller.wait(Duration::from_secs(60)),
        0,
        "50 calls over TCP on both legs:\n{}",
        runner.log_text()
    );
    let mut udp_caller = uac(dir.path(), &ip, 5081, &["-m", "50", "-r", "25"]);
    assert_eq!(
        udp_caller.wait(Duration::from_secs(60)),
        0,
        "50 calls from a UDP caller to the TCP callee:\n{}",
        runner.log_text()
    );
    let history = runner.history();
    assert_eq!(history.len(), 100);
    let transports = |record: &serde_json::Value| {
        (
            record["legs"][0]["transport"].as_str().unwrap().to_owned(),
            record["legs"][1]["transport"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        history
            .iter()
            .filter(|r| transports(r) == ("tcp".into(), "tcp".into()))
            .count(),
        50
    );
    assert_eq!(
        history
            .iter()
            .filter(|r| transports(r) == ("udp".into(), "tcp".into()))
            .count(),
        50
    );
    assert!(history.iter().all(|r| r["final_status"] == 200));
    drop(callee.child.kill());
}

#[test]
fn sipp_cancels_over_tcp_with_a_connection_per_call() {
    require_sipp();
    let ip = ip(115);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &stream_config(&ip, "tcp", 1000, false),
        dir.path(),
        &[],
    );
    let _callee = uas_scenario(dir.path(), &ip, "uas_ring", &["-t", "t1"]);
    // `-t tn`: SIPp opens a connection of its own for each call.
    let mut caller = uac_scenario(
        dir.path(),
        &ip,
        "uac_cancel",
        10,
        &["-t", "tn", "-max_socket", "100"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 10),
        "{}",
        runner.log_text()
    );
    for record in runner.history() {
        assert_eq!(record["final_status"], 487, "{record}");
        assert_eq!(record["outcome"], "cancelled", "{record}");
        assert_eq!(record["legs"][0]["transport"], "tcp");
        assert_eq!(record["legs"][1]["transport"], "tcp");
        assert_eq!(
            record["legs"][1]["final_status"], 487,
            "leg B was cancelled"
        );
    }
    let peers: std::collections::BTreeSet<u64> = runner
        .history()
        .iter()
        .map(|record| record["legs"][0]["peer"].as_str().unwrap().to_owned())
        .map(|peer| peer.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        peers.len(),
        10,
        "one connection (source port) per call: {peers:?}"
    );
}

#[test]
fn a_stream_is_framed_whatever_the_reads_and_bad_framing_closes_it() {
    let ip = ip(112);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &stream_config(&ip, "udp", 1000, false),
        dir.path(),
        &[],
    );
    let target = format!("{ip}:5060");

    // One message, one byte per write.
    let mut stream = TcpStream::connect(&target).unwrap();
    stream.set_nodelay(true).unwrap();
    for byte in options(&ip, 1).as_bytes() {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
    }
    let answer = read_answers(&mut stream, 1);
    assert!(answer.starts_with("SIP/2.0 200 OK"), "{answer}");
    assert!(answer.contains("Call-ID: stream-1@"));

    // Two messages and a keep-alive ping in one write: two answers, and a pong between them.
    let batch = format!("{}\r\n\r\n{}", options(&ip, 2), options(&ip, 3));
    stream.write_all(batch.as_bytes()).unwrap();
    let answers = read_answers(&mut stream, 2);
    let first = answers.find("stream-2@").expect("the first answer");
    let second = answers.find("stream-3@").expect("the second answer");
    assert!(first < second, "in order: {answers}");
    assert!(
        answers.contains("\r\n\r\n\r\nSIP/2.0 200"),
        "the pong (CRLF) comes back between the answers: {answers:?}"
    );

    // No Content-Length: 400, then the connection is closed.
    let mut broken = TcpStream::connect(&target).unwrap();
    broken
        .write_all(
            options(&ip, 4)
                .replace("Content-Length: 0\r\n", "")
                .as_bytes(),
        )
        .unwrap();
    let refusal = read_answers(&mut broken, 1);
    assert!(refusal.starts_with("SIP/2.0 400"), "{refusal}");
    assert!(closed(&mut broken), "closed after the framing error");

    // A declared length over the limit (64 KB): closed.
    let mut huge = TcpStream::connect(&target).unwrap();
    huge.write_all(
        options(&ip, 5)
            .replace("Content-Length: 0", "Content-Length: 900000")
            .as_bytes(),
    )
    .unwrap();
    assert!(closed(&mut huge), "closed: over the size limit");

    // A connection that stops mid-message: nothing breaks.
    let mut half = TcpStream::connect(&target).unwrap();
    half.write_all(&options(&ip, 6).as_bytes()[..40]).unwrap();
    drop(half);
    let mut again = TcpStream::connect(&target).unwrap();
    again.write_all(options(&ip, 7).as_bytes()).unwrap();
    assert!(read_answers(&mut again, 1).starts_with("SIP/2.0 200 OK"));

    let (_, metrics) = runner.get("/metrics");
    assert!(
        metrics.contains("twoleg_framing_errors_total 2"),
        "both framing errors counted:\n{metrics}"
    );
    let (_, connections) = runner.get("/api/connections");
    let connections: Vec<serde_json::Value> = serde_json::from_str(&connections).unwrap();
    let first = connections
        .iter()
        .find(|c| c["peer"] == stream.local_addr().unwrap().to_string())
        .unwrap_or_else(|| panic!("the first connection is open: {connections:?}"));
    assert_eq!(first["transport"], "tcp", "{first}");
    assert_eq!(first["direction"], "inbound", "{first}");
    assert_eq!(
        first["messages_in"], 3,
        "one message in 500-odd reads, two in one read: {first}"
    );
    assert_eq!(
        first["bytes_in"].as_u64(),
        Some((options(&ip, 1).len() + batch.len()) as u64),
        "{first}"
    );
}

#[test]
fn two_thousand_idle_connections_hit_the_limit_and_calls_go_on() {
    require_sipp();
    let ip = ip(113);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        &ip,
        &stream_config(&ip, "udp", 1000, false),
        dir.path(),
        &[],
    );
    let target = format!("{ip}:5060");
    let mut idle = Vec::new();
    for _ in 0..2_000 {
        if let Ok(stream) = TcpStream::connect(&target) {
            idle.push(stream);
        }
    }
    assert!(eventually(Duration::from_secs(10), || {
        let (_, connections) = runner.get("/api/connections");
        serde_json::from_str::<Vec<serde_json::Value>>(&connections)
            .unwrap()
            .len()
            == 1000
    }));
    let (_, metrics) = runner.get("/metrics");
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("twoleg_connections_refused_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        refused >= 900,
        "refused beyond the limit: {refused}\n{metrics}"
    );
    // Calls over UDP are untouched.
    let _callee = uas(dir.path(), &ip);
    let mut caller = uac(dir.path(), &ip, 5080, &["-m", "20", "-r", "20"]);
    assert_eq!(caller.wait(Duration::from_secs(60)), 0);
    // Once the idle ones go, TCP is served again.
    drop(idle);
    assert!(eventually(Duration::from_secs(10), || {
        let mut stream = TcpStream::connect(&target).unwrap();
        stream.write_all(options(&ip, 8).as_bytes()).is_ok()
            && read_answers(&mut stream, 1).starts_with("SIP/2.0 200")
    }));
}

#[test]
fn a_large_invite_toward_a_destination_that_takes_tcp_goes_over_tcp() {
    let ip = ip(114);
    let dir = tempfile::tempdir().unwrap();
    let _runner = Runner::start(&ip, &stream_config(&ip, "udp", 1000, true), dir.path(), &[]);
    // The callee listens on UDP and TCP on one port.
    let callee_udp = UdpSocket::bind(format!("{ip}:5070")).unwrap();
    let callee_tcp = TcpListener::bind(format!("{ip}:5070")).unwrap();
    callee_tcp.set_nonblocking(true).unwrap();
    callee_udp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let filler = "a=x-filler:0123456789abcdef0123456789abcdef\r\n".repeat(60);
    let sdp = format!(
        "v=0\r\no=a 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n{filler}"
    );
    let invite = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:5080;branch=z9hG4bKbig;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=big\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: big@{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{ip}:5080>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    assert!(invite.len() > 2_500);
    let caller = UdpSocket::bind(format!("{ip}:5080")).unwrap();
    caller
        .send_to(invite.as_bytes(), format!("{ip}:5060"))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut received = String::new();
    while std::time::Instant::now() < deadline && !received.contains("\r\n\r\n") {
        if let Ok((mut stream, _)) = callee_tcp.accept() {
            stream.set_nonblocking(false).unwrap();
            received = read_answers_any(&mut stream);
        }
        let mut buffer = [0; 65_535];
        if let Ok((n, _)) = callee_udp.recv_from(&mut buffer) {
            panic!(
                "the large INVITE came over UDP:\n{}",
                String::from_utf8_lossy(&buffer[..n])
            );
        }
    }
    assert!(received.starts_with("INVITE "), "{received}");
    assert!(received.contains("Via: SIP/2.0/TCP"), "{received}");
}

/// Whatever one request brings within 3 s.
fn read_answers_any(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut buffer = [0; 65_535];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(_) if text.contains("\r\n\r\n") => break,
            Err(_) => {}
        }
    }
    text
}
