//! A media load generator for TwoLeg's media plane: places `--calls` calls through a running
//! TwoLeg (SIP over UDP on loopback), answers them itself as the callee, and sends G.711-sized
//! RTP (160-byte payloads, 50 packets/s) both ways on every call for `--seconds`, as SRTP on the
//! caller's leg when `--srtp` (the caller's zone must then be Force encrypted or Best effort) or
//! clear RTP. Each packet carries its send time; the receiver measures the one-way delay through
//! TwoLeg and counts what is missing. Prints one JSON object: calls answered, packets sent and
//! received per direction, loss, delay percentiles, and the SRTP failures seen.
//!
//! With `--direct` no call is placed: the two ends send the same packets straight to each other,
//! the generator's own baseline for loss and delay.
//!
//! Every caller-side media line is on one socket and every callee-side line on another
//! (calls are told apart by SSRC), so thousands of calls need four sockets in all.
//!
//! ```sh
//! media-load --twoleg 127.0.0.1:5060 --caller 127.0.0.50 --callee 127.0.0.51 --calls 200 \
//!     --seconds 30 --srtp
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use twoleg_core::sip::{self, Message, Parsed};
use twoleg_core::srtp::{Context, Crypto, MasterKey, Suite};

const PAYLOAD: usize = 160;
const INTERVAL: Duration = Duration::from_millis(20);
/// Send slots per interval.
const SLOTS: u64 = 20;

struct Args {
    twoleg: SocketAddr,
    caller: String,
    callee: String,
    calls: u32,
    seconds: u64,
    srtp: bool,
    rate: u32,
    /// No TwoLeg: the two ends send to each other, the generator's own baseline.
    direct: bool,
}

fn args() -> Args {
    let mut args = Args {
        twoleg: "127.0.0.1:5060".parse().expect("a literal address"),
        caller: "127.0.0.50".to_owned(),
        callee: "127.0.0.51".to_owned(),
        calls: 10,
        seconds: 10,
        srtp: false,
        rate: 100,
        direct: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--twoleg" => args.twoleg = value().parse().expect("--twoleg IP:PORT"),
            "--caller" => args.caller = value(),
            "--callee" => args.callee = value(),
            "--calls" => args.calls = value().parse().expect("--calls N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds N"),
            "--rate" => args.rate = value().parse().expect("--rate CALLS_PER_SECOND"),
            "--srtp" => args.srtp = true,
            "--direct" => args.direct = true,
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// One call's media state at one end.
struct End {
    ssrc: u32,
    seq: u16,
    send: Option<Context>,
    receive: Option<Context>,
    /// Where TwoLeg takes this end's packets.
    to: Option<SocketAddr>,
}

impl End {
    /// An end that sends as `ssrc` to `to` (once known), protecting with `send` and
    /// unprotecting with `receive` when SRTP.
    fn new(
        ssrc: u32,
        send: Option<&MasterKey>,
        receive: Option<&MasterKey>,
        to: Option<SocketAddr>,
    ) -> Self {
        Self {
            ssrc,
            seq: 0,
            send: send.map(Context::new),
            receive: receive.map(Context::new),
            to,
        }
    }
}

/// What a receiver saw.
#[derive(Default)]
struct Seen {
    received: u64,
    failures: u64,
    delays_us: Vec<u32>,
}

fn crypto_line(key: &MasterKey) -> String {
    Crypto {
        tag: 1,
        key: key.clone(),
        session_params: Vec::new(),
    }
    .to_string()
}

fn sdp(ip: &str, port: u16, crypto: Option<&MasterKey>) -> String {
    let mut sdp = format!(
        "v=0\r\no=load 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} {} 0\r\na=rtpmap:0 PCMU/8000\r\n",
        if crypto.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        }
    );
    if let Some(key) = crypto {
        sdp.push_str(&format!("a=crypto:{}\r\n", crypto_line(key)));
    }
    sdp
}

/// The address and first crypto key of an SDP body.
fn media_of(body: &[u8]) -> (Option<SocketAddr>, Option<MasterKey>) {
    let text = String::from_utf8_lossy(body);
    let mut ip = None;
    let mut port = None;
    let mut key = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
            ip = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("m=audio ") {
            port = rest.split(' ').next().and_then(|p| p.parse().ok());
        } else if let Some(rest) = line.strip_prefix("a=crypto:") {
            key = key.or_else(|| Crypto::parse(rest).ok().map(|c| c.key));
        }
    }
    (
        ip.zip(port).map(|(ip, port)| SocketAddr::new(ip, port)),
        key,
    )
}

fn request(
    method: &str,
    uri: &str,
    from: SocketAddr,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: &str,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let branch = format!("z9hG4bK{call_id}{cseq}{method}");
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch={branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:load@{from}>;tag=load{call_id}\r\nTo: <sip:callee@example.com>{to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:load@{from}>\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The response to `request` with `status`, `to_tag` and `body`.
fn response(
    parsed: &Parsed,
    status: &str,
    to_tag: &str,
    contact: SocketAddr,
    body: &str,
) -> String {
    let Message::Request(request) = &parsed.message else {
        return String::new();
    };
    let mut text = format!("SIP/2.0 {status}\r\n");
    for via in request.headers.get_all(&sip::HeaderName::VIA) {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let to = request
        .headers
        .get(&sip::HeaderName::TO)
        .unwrap_or_default();
    let to = if to.contains(";tag=") {
        to.to_owned()
    } else {
        format!("{to};tag={to_tag}")
    };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:callee@{contact}>\r\n",
        request
            .headers
            .get(&sip::HeaderName::FROM)
            .unwrap_or_default(),
        parsed.call_id,
        parsed.cseq
    ));
    if !body.is_empty() {
        text.push_str("Content-Type: application/sdp\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

fn key(seed: u64) -> MasterKey {
    let mut material = vec![0u8; 30];
    for (i, byte) in material.iter_mut().enumerate() {
        *byte = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 8 * 8)) as u8 ^ i as u8;
    }
    MasterKey::new(Suite::AesCm128HmacSha1_80, material, None).expect("30 bytes")
}

/// The media sockets' buffer size asked for (the kernel caps it at net.core.rmem_max/wmem_max).
const MEDIA_BUFFER: usize = 8 << 20;

fn main() {
    let args = args();
    let caller_sip = UdpSocket::bind((args.caller.as_str(), 5080)).expect("caller SIP port");
    let callee_sip = UdpSocket::bind((args.callee.as_str(), 5070)).expect("callee SIP port");
    let caller_media = UdpSocket::bind((args.caller.as_str(), 30_000)).expect("caller media");
    let callee_media = UdpSocket::bind((args.callee.as_str(), 30_000)).expect("callee media");
    // Every call's media arrives on these two sockets: a receive buffer as large as the kernel
    // allows (net.core.rmem_max), so bursts wait there instead of being dropped.
    for socket in [&caller_media, &callee_media] {
        let socket = socket2::SockRef::from(socket);
        if let Err(e) = socket.set_recv_buffer_size(MEDIA_BUFFER) {
            eprintln!("cannot grow a media socket's receive buffer: {e}");
        }
        let _ = socket.set_send_buffer_size(MEDIA_BUFFER);
    }
    let caller_sip_address = caller_sip.local_addr().expect("bound");
    let callee_sip_address = callee_sip.local_addr().expect("bound");
    for socket in [&caller_sip, &callee_sip] {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a read timeout");
    }
    let start = Instant::now();
    // Per call (by index): the caller's and the callee's end.
    let callers: Arc<Mutex<BTreeMap<u32, End>>> = Arc::default();
    let callees: Arc<Mutex<BTreeMap<u32, End>>> = Arc::default();

    // The callee: answers every INVITE (with its media on the callee media socket), every BYE.
    let stop = Arc::new(AtomicBool::new(false));
    let callee_thread = {
        let (stop, callees) = (stop.clone(), callees.clone());
        let media = callee_media.local_addr().expect("bound");
        std::thread::spawn(move || {
            let mut buffer = vec![0; 65_535];
            let mut answered: BTreeMap<String, String> = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = callee_sip.recv_from(&mut buffer) else {
                    continue;
                };
                let Ok(parsed) = sip::parse(&buffer[..n], 65_535) else {
                    continue;
                };
                let Message::Request(request) = &parsed.message else {
                    continue;
                };
                let method = request.method.to_string();
                if method == "INVITE" {
                    let reply = match answered.get(&parsed.call_id) {
                        Some(reply) => reply.clone(),
                        None => {
                            let (to, _) = media_of(&request.body);
                            let index: u32 = request
                                .headers
                                .get(&sip::HeaderName::parse("X-Load-Index"))
                                .and_then(|value| value.trim().parse().ok())
                                .unwrap_or(u32::MAX);
                            callees
                                .lock()
                                .expect("not poisoned")
                                .insert(index, End::new(0x1000_0000 + index, None, None, to));
                            let body = sdp(&media.ip().to_string(), media.port(), None);
                            let reply = response(
                                &parsed,
                                "200 OK",
                                &format!("callee{index}"),
                                callee_sip_address,
                                &body,
                            );
                            answered.insert(parsed.call_id.clone(), reply.clone());
                            reply
                        }
                    };
                    let _ = callee_sip.send_to(reply.as_bytes(), from);
                } else if method == "BYE" {
                    let reply = response(&parsed, "200 OK", "x", callee_sip_address, "");
                    let _ = callee_sip.send_to(reply.as_bytes(), from);
                }
            }
        })
    };

    // Set up the calls at `rate` per second.
    let media = caller_media.local_addr().expect("bound");
    let mut buffer = vec![0; 65_535];
    let mut pending: BTreeMap<String, u32> = BTreeMap::new();
    let mut answered = 0;
    let setup_until =
        Instant::now() + Duration::from_secs(u64::from(args.calls / args.rate.max(1)) + 20);
    let mut next_call = 0;
    let mut to_tags: BTreeMap<u32, String> = BTreeMap::new();
    if args.direct {
        // The baseline: the same packets, end to end without TwoLeg.
        let callee_address = callee_media.local_addr().expect("bound");
        for index in 0..args.calls {
            let own = args.srtp.then(|| key(u64::from(index)));
            callers.lock().expect("not poisoned").insert(
                index,
                End::new(
                    0x2000_0000 + index,
                    own.as_ref(),
                    None,
                    Some(callee_address),
                ),
            );
            callees.lock().expect("not poisoned").insert(
                index,
                End::new(0x1000_0000 + index, None, own.as_ref(), Some(media)),
            );
        }
        answered = args.calls;
    }
    while answered < args.calls && Instant::now() < setup_until {
        let due =
            start + Duration::from_secs_f64(f64::from(next_call) / f64::from(args.rate.max(1)));
        if next_call < args.calls && Instant::now() >= due {
            let call_id = format!("load{next_call}");
            let own = args.srtp.then(|| key(u64::from(next_call)));
            let body = sdp(&media.ip().to_string(), media.port(), own.as_ref());
            let uri = format!("sip:callee@{}", args.twoleg);
            let invite = request("INVITE", &uri, caller_sip_address, &call_id, 1, None, &body)
                .replacen(
                    "Max-Forwards: 70\r\n",
                    &format!("Max-Forwards: 70\r\nX-Load-Index: {next_call}\r\n"),
                    1,
                );
            let _ = caller_sip.send_to(invite.as_bytes(), args.twoleg);
            callers.lock().expect("not poisoned").insert(
                next_call,
                End::new(0x2000_0000 + next_call, own.as_ref(), None, None),
            );
            pending.insert(call_id, next_call);
            next_call += 1;
            continue;
        }
        let Ok((n, _)) = caller_sip.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(parsed) = sip::parse(&buffer[..n], 65_535) else {
            continue;
        };
        let Message::Response(response) = &parsed.message else {
            continue;
        };
        if response.status.code() != 200 || parsed.cseq.method.to_string() != "INVITE" {
            continue;
        }
        let to_tag = parsed.to.tag().unwrap_or_default().to_owned();
        let uri = format!("sip:twoleg@{}", args.twoleg);
        let ack = request(
            "ACK",
            &uri,
            caller_sip_address,
            &parsed.call_id,
            1,
            Some(&to_tag),
            "",
        );
        let _ = caller_sip.send_to(ack.as_bytes(), args.twoleg);
        let Some(index) = pending.remove(&parsed.call_id) else {
            continue;
        };
        let (to, theirs) = media_of(&response.body);
        if let Some(end) = callers.lock().expect("not poisoned").get_mut(&index) {
            end.to = to;
            end.receive = theirs.as_ref().map(Context::new);
        }
        to_tags.insert(index, to_tag);
        answered += 1;
    }
    let setup = start.elapsed();

    // From here on each thread owns what it uses: the senders the ends, each receiver the
    // contexts it unprotects with (no lock on the packet path).
    let mut caller_ends = std::mem::take(&mut *callers.lock().expect("not poisoned"));
    let mut callee_ends = std::mem::take(&mut *callees.lock().expect("not poisoned"));
    let caller_contexts: BTreeMap<u32, Option<Context>> = caller_ends
        .iter_mut()
        .map(|(index, end)| (*index, end.receive.take()))
        .collect();
    let callee_contexts: BTreeMap<u32, Option<Context>> = callee_ends
        .iter_mut()
        .map(|(index, end)| (*index, end.receive.take()))
        .collect();

    // Receivers: one thread per media socket.
    let receive = |socket: UdpSocket, mut contexts: BTreeMap<u32, Option<Context>>, base: u32| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("a read timeout");
            let mut seen = Seen::default();
            let mut buffer = vec![0; 2_048];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, _)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let arrived = start.elapsed();
                if n < 12 {
                    continue;
                }
                let ssrc = u32::from_be_bytes([buffer[8], buffer[9], buffer[10], buffer[11]]);
                let index = ssrc.wrapping_sub(base);
                let clear = match contexts.get_mut(&index) {
                    Some(Some(context)) => context.unprotect_rtp(&buffer[..n]).ok(),
                    Some(None) => Some(buffer[..n].to_vec()),
                    None => None,
                };
                let Some(clear) = clear else {
                    seen.failures += 1;
                    continue;
                };
                if clear.len() >= 20 {
                    let sent = u64::from_be_bytes(clear[12..20].try_into().expect("8 bytes"));
                    let delay = (arrived.as_nanos() as u64).saturating_sub(sent) / 1_000;
                    seen.delays_us.push(delay.min(u64::from(u32::MAX)) as u32);
                }
                seen.received += 1;
            }
            seen
        })
    };
    // The caller receives packets the callee sent (SSRC 0x1000_0000 + index) and the callee
    // those the caller sent.
    let caller_rx = receive(
        caller_media.try_clone().expect("a clone"),
        caller_contexts,
        0x1000_0000,
    );
    let callee_rx = receive(
        callee_media.try_clone().expect("a clone"),
        callee_contexts,
        0x2000_0000,
    );

    // Senders: every 20 ms, one packet from each end of each call.
    let mut sent = [0u64; 2];
    let media_start = Instant::now();
    // Calls' packets are spread over the 20 ms (one slot per millisecond, a call in slot
    // `index % 20`), as independent calls are, rather than all sent at the same instant.
    let mut tick = 0u64;
    while media_start.elapsed() < Duration::from_secs(args.seconds) {
        let slot = (tick % SLOTS) as u32;
        for (direction, (socket, ends)) in [
            (&caller_media, &mut caller_ends),
            (&callee_media, &mut callee_ends),
        ]
        .into_iter()
        .enumerate()
        {
            for (_, end) in ends
                .iter_mut()
                .filter(|(index, _)| **index % SLOTS as u32 == slot)
            {
                let Some(to) = end.to else { continue };
                end.seq = end.seq.wrapping_add(1);
                let mut packet = Vec::with_capacity(12 + PAYLOAD);
                packet.extend_from_slice(&[0x80, 0]);
                packet.extend_from_slice(&end.seq.to_be_bytes());
                packet.extend_from_slice(&(u32::from(end.seq) * PAYLOAD as u32).to_be_bytes());
                packet.extend_from_slice(&end.ssrc.to_be_bytes());
                packet.extend_from_slice(&(start.elapsed().as_nanos() as u64).to_be_bytes());
                packet.resize(12 + PAYLOAD, 0xd5);
                let out = match end.send.as_mut() {
                    Some(context) => context.protect_rtp(&packet).expect("protects"),
                    None => packet,
                };
                if socket.send_to(&out, to).is_ok() {
                    sent[direction] += 1;
                }
            }
        }
        tick += 1;
        let next = media_start + INTERVAL / SLOTS as u32 * tick as u32;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    // Hang up.
    for (index, to_tag) in &to_tags {
        let uri = format!("sip:twoleg@{}", args.twoleg);
        let bye = request(
            "BYE",
            &uri,
            caller_sip_address,
            &format!("load{index}"),
            2,
            Some(to_tag),
            "",
        );
        let _ = caller_sip.send_to(bye.as_bytes(), args.twoleg);
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let at_caller = caller_rx.join().expect("the receiver ends");
    let at_callee = callee_rx.join().expect("the receiver ends");
    let _ = callee_thread.join();
    let percentile = |delays: &mut Vec<u32>, p: f64| -> u32 {
        if delays.is_empty() {
            return 0;
        }
        delays.sort_unstable();
        delays[((delays.len() - 1) as f64 * p) as usize]
    };
    let mut all: Vec<u32> = at_caller
        .delays_us
        .iter()
        .chain(&at_callee.delays_us)
        .copied()
        .collect();
    println!(
        "{{\"calls\": {}, \"answered\": {answered}, \"setup_s\": {:.1}, \"srtp\": {}, \
         \"seconds\": {}, \"sent_caller_to_callee\": {}, \"received_by_callee\": {}, \
         \"sent_callee_to_caller\": {}, \"received_by_caller\": {}, \"srtp_failures\": {}, \
         \"delay_us_p50\": {}, \"delay_us_p99\": {}, \"delay_us_max\": {}}}",
        args.calls,
        setup.as_secs_f64(),
        args.srtp,
        args.seconds,
        sent[0],
        at_callee.received,
        sent[1],
        at_caller.received,
        at_caller.failures + at_callee.failures,
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.99),
        all.iter().max().copied().unwrap_or(0),
    );
}
