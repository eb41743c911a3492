//! Starting the real `twoleg` binary and real SIPp (Debian `sip-tester`) on loopback. Each test
//! uses its own address in 127.0.0.0/8, so tests run in parallel without port clashes and no
//! traffic leaves the machine.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod baresip;
pub mod coturn;
pub mod dnsmasq;
pub mod pki;

pub const TWOLEG: &str = env!("CARGO_BIN_EXE_twoleg");

/// A loopback address for one test: 127.0.0.`n`.
pub fn ip(n: u8) -> String {
    assert!((2..=250).contains(&n));
    format!("127.0.0.{n}")
}

/// A config on `ip`: SIP on :5060, every call to the callee on :5070, admin HTTP on :8080,
/// T1 = 500 ms.
pub fn config(ip: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "sip": {{ "listeners": [ {{ "name": "default", "address": "{ip}:5060" }} ] }},
  "routes": [ {{ "name": "callee", "destination": "{ip}:5070" }} ],
  "admin": {{ "listen": "{ip}:8080" }},
  "history": {{ "max_calls": 1000 }}
}}"#
    )
}

/// `sipp` must be installed: the tests exercise a real peer, never a stand-in.
pub fn require_sipp() {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "SIPp is not installed: apt-get install sip-tester (.ci/run does this)"
    );
}

/// The running B2BUA.
pub struct Runner {
    pub child: Child,
    pub ip: String,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Runner {
    /// Starts `twoleg run` with this config in `dir` (history in `dir/data`) and waits until the
    /// admin API answers.
    pub fn start(ip: &str, config_json: &str, dir: &Path, extra: &[&str]) -> Self {
        let runner = Self::spawn(ip, config_json, dir, extra);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if runner
                .try_get("/healthz")
                .is_some_and(|(status, _)| status == 200)
            {
                return runner;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("twoleg did not come up:\n{}", runner.log_text());
    }

    /// Starts `twoleg run` as [`Self::start`] does, without waiting for the admin API (which
    /// may speak HTTPS).
    pub fn spawn(ip: &str, config_json: &str, dir: &Path, extra: &[&str]) -> Self {
        let config = dir.join("twoleg.json");
        std::fs::write(&config, config_json).unwrap();
        let log = dir.join(format!(
            "twoleg-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(TWOLEG)
            .args(["run", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("twoleg starts");
        Self {
            child,
            ip: ip.to_owned(),
            dir: dir.to_owned(),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn admin(&self) -> SocketAddr {
        format!("{}:8080", self.ip).parse().unwrap()
    }

    fn try_get(&self, path: &str) -> Option<(u16, String)> {
        http(self.admin(), "GET", path)
    }

    /// GET on the admin API; panics unless it answers.
    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.admin(), "GET", path)
            .unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.log_text()))
    }

    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        http(self.admin(), method, path)
            .unwrap_or_else(|| panic!("{method} {path} failed:\n{}", self.log_text()))
    }

    /// The finished calls, newest first.
    /// The one call in history, once it is there (within 12 s).
    pub fn single_record(&self) -> serde_json::Value {
        assert!(
            eventually(Duration::from_secs(12), || self.history().len() == 1),
            "the call ends in history:\n{}",
            self.log_text()
        );
        self.history().remove(0)
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/history");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    pub fn calls(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/calls");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    /// Waits for the process to exit; returns its status.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "twoleg did not exit:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange (`Connection: close`) with the admin API.
pub fn http(address: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    // axum answers small bodies with Content-Length; chunked bodies would need decoding.
    Some((status, body))
}

/// A SIPp process.
pub struct Sipp {
    pub child: Child,
    pub dir: PathBuf,
}

impl Sipp {
    /// Starts SIPp in `dir` with these arguments (a scenario, addresses, rates, limits).
    pub fn spawn(dir: &Path, args: &[&str]) -> Self {
        let child = Command::new("sipp")
            .current_dir(dir)
            .args(args)
            .args(["-nostdin", "-trace_err", "-trace_screen"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp starts");
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    /// Waits for SIPp to finish within `limit`; returns its exit code (0: every call succeeded).
    pub fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sipp did not finish in {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The final statistics screen SIPp wrote (`-trace_screen`).
    pub fn screen(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if entry.file_name().to_string_lossy().ends_with("_screen.log") {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// (successful, failed) calls from the screen.
    pub fn counts(&self) -> (u64, u64) {
        let screen = self.screen();
        let read = |label: &str| {
            screen
                .lines()
                .filter(|l| l.trim_start().starts_with(label))
                .filter_map(|l| l.split('|').nth(2)?.trim().parse().ok())
                .next_back()
                .unwrap_or(0)
        };
        (read("Successful call"), read("Failed call"))
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIPp's built-in callee on `ip:5070`, until dropped.
pub fn uas(dir: &Path, ip: &str) -> Sipp {
    Sipp::spawn(dir, &["-sn", "uas", "-i", ip, "-p", "5070"])
}

/// SIPp's built-in caller from `ip:port` to the runner on `ip:5060`, with extra arguments
/// (`-m`, `-r`, `-d`, ...).
pub fn uac(dir: &Path, ip: &str, port: u16, extra: &[&str]) -> Sipp {
    let target = format!("{ip}:5060");
    let port = port.to_string();
    let mut args = vec!["-sn", "uac", target.as_str(), "-i", ip, "-p", port.as_str()];
    args.extend_from_slice(extra);
    Sipp::spawn(dir, &args)
}

/// SIPp playing scenario `name` (`runner/tests/sipp/<name>.xml`) as the callee on `ip:5070`,
/// with extra arguments.
pub fn uas_scenario(dir: &Path, ip: &str, name: &str, extra: &[&str]) -> Sipp {
    let scenario = scenario(name);
    let mut args = vec!["-sf", scenario.as_str(), "-i", ip, "-p", "5070"];
    args.extend_from_slice(extra);
    Sipp::spawn(dir, &args)
}

/// SIPp playing scenario `name` as the caller from `ip:5080` to the runner on `ip:5060`:
/// `calls` calls at 10 per second, a call unfinished after 60 s counting as failed; extra
/// arguments after those.
pub fn uac_scenario(dir: &Path, ip: &str, name: &str, calls: u32, extra: &[&str]) -> Sipp {
    uac_scenario_from(dir, ip, ip, name, calls, extra)
}

/// As [`uac_scenario`], the caller on `from_ip:5080` and the runner on `ip:5060`.
pub fn uac_scenario_from(
    dir: &Path,
    ip: &str,
    from_ip: &str,
    name: &str,
    calls: u32,
    extra: &[&str],
) -> Sipp {
    let scenario = scenario(name);
    let target = format!("{ip}:5060");
    let calls = calls.to_string();
    let mut args = vec![
        "-sf",
        scenario.as_str(),
        target.as_str(),
        "-i",
        from_ip,
        "-p",
        "5080",
        "-m",
        calls.as_str(),
        "-r",
        "10",
        "-timeout",
        "60",
        "-timeout_error",
    ];
    args.extend_from_slice(extra);
    Sipp::spawn(dir, &args)
}

/// The scenario file `runner/tests/sipp/<name>.xml`.
pub fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}.xml", env!("CARGO_MANIFEST_DIR"))
}

/// Polls `check` until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A call's (or record's) first anchored media line: leg A then leg B.
pub fn media_legs(call: &serde_json::Value) -> Vec<serde_json::Value> {
    call["media"]["streams"][0]["legs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// SIPp's built-in callee on `ip:port`, answering OPTIONS pings with 200 (`-aa`), in its own
/// directory (its screen file is its own).
pub fn callee(dir: &Path, ip: &str, port: u16) -> Sipp {
    let dir = dir.join(format!("callee-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = port.to_string();
    Sipp::spawn(&dir, &["-sn", "uas", "-aa", "-i", ip, "-p", &port])
}

/// `calls` calls at `rate` per second from SIPp's built-in caller (in its own directory
/// `batch`); its exit code, counts and screen.
pub fn place_calls(
    dir: &Path,
    ip: &str,
    batch: &str,
    calls: u32,
    rate: u32,
) -> (i32, (u64, u64), String) {
    let dir = dir.join(batch);
    std::fs::create_dir_all(&dir).unwrap();
    let calls = calls.to_string();
    let rate = rate.to_string();
    let mut caller = uac(
        &dir,
        ip,
        5080,
        &[
            "-m",
            &calls,
            "-r",
            &rate,
            "-timeout",
            "60",
            "-timeout_error",
        ],
    );
    let code = caller.wait(Duration::from_secs(90));
    (code, caller.counts(), caller.screen())
}

/// `calls` calls at `rate` per second (as [`place_calls`]) that must all succeed, after which
/// call history must hold `history_total` records.
pub fn calls_complete(
    runner: &Runner,
    dir: &Path,
    ip: &str,
    batch: &str,
    calls: u32,
    rate: u32,
    history_total: usize,
) {
    let (code, counts, screen) = place_calls(dir, ip, batch, calls, rate);
    assert_eq!(
        (code, counts),
        (0, (u64::from(calls), 0)),
        "{screen}\n{}",
        runner.log_text()
    );
    assert!(
        eventually(Duration::from_secs(20), || runner.history().len()
            == history_total),
        "{}",
        runner.log_text()
    );
}

/// An INVITE from `socket` for `service`, with `extra` headers; its Call-ID is `call_id`.
pub fn invite_text(socket: &UdpSocket, target: &str, call_id: &str, extra: &str) -> String {
    let local = socket.local_addr().unwrap();
    format!(
        "INVITE sip:service@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:replay@{local}>;tag=r{call_id}\r\n\
         To: <sip:service@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:replay@{local}>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// Sends `text` and returns the first final response's status line and text.
pub fn final_response(socket: &UdpSocket, target: &str, text: &str) -> String {
    socket.send_to(text.as_bytes(), target).unwrap();
    let mut buffer = [0u8; 65_535];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let response = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if !response.starts_with("SIP/2.0 1") {
            return response;
        }
    }
    panic!("no final response to:\n{text}");
}

/// A UDP socket bound to `address` whose receives give up after `timeout`.
pub fn udp_socket(address: &str, timeout: Duration) -> UdpSocket {
    let socket = UdpSocket::bind(address).unwrap_or_else(|e| panic!("binding UDP {address}: {e}"));
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket
}

/// The next datagram `socket` receives; panics, saying it waited for `what`, if none comes
/// within the socket's read timeout.
pub fn next_datagram(socket: &UdpSocket, what: &str) -> Vec<u8> {
    let mut buffer = [0u8; 65_535];
    let (n, _) = socket
        .recv_from(&mut buffer)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    buffer[..n].to_vec()
}
