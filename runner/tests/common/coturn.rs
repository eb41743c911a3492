//! Real coturn (Debian `coturn`) on loopback, started as reference/turn.md §4 shows: one
//! instance per address, its own relay range, long-term credentials alice/secret, loopback peers
//! allowed, verbose log kept in a file for assertions.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running turnserver.
pub struct Coturn {
    pub child: Child,
    pub ip: String,
    pub relays: (u16, u16),
    pub log: PathBuf,
}

impl Coturn {
    /// Starts turnserver on `ip:3478` with relays in `relays` and waits until it answers a STUN
    /// Binding from a fresh socket (a probe sent while it starts can go unanswered for good).
    pub fn start(dir: &Path, ip: &str, relays: (u16, u16)) -> Self {
        Self::start_with(dir, ip, relays, &[])
    }

    /// `start` with extra turnserver options (`--alternate-server`, `--stale-nonce=1`, ...).
    pub fn start_with(dir: &Path, ip: &str, relays: (u16, u16), extra: &[&str]) -> Self {
        let dir = dir.join(format!("coturn-{ip}"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("turnserver.log");
        let child = Command::new("turnserver")
            .args(["-n", "-v", "-L", ip, "-E", ip, "--listening-port", "3478"])
            .args(["--min-port", &relays.0.to_string()])
            .args(["--max-port", &relays.1.to_string()])
            .args([
                "--lt-cred-mech",
                "--user",
                "alice:secret",
                "--realm",
                "example.test",
            ])
            .args(["--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780"])
            .arg("--allow-loopback-peers")
            .arg("--userdb")
            .arg(dir.join("turn.db"))
            .arg("--pidfile")
            .arg(dir.join("turn.pid"))
            .args(["--log-file", "stdout", "--simple-log"])
            .args(extra)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver runs: apt-get install coturn (.ci/run does this)");
        let coturn = Self {
            child,
            ip: ip.to_owned(),
            relays,
            log,
        };
        let binding: Vec<u8> = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]
            .into_iter()
            .chain([9; 12])
            .collect();
        for _ in 0..300 {
            let probe = UdpSocket::bind(format!("{ip}:0")).unwrap();
            probe
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            probe.send_to(&binding, coturn.address()).unwrap();
            let mut buffer = [0; 512];
            if probe.recv_from(&mut buffer).is_ok() {
                return coturn;
            }
        }
        panic!("coturn did not answer on {}", coturn.address());
    }

    pub fn address(&self) -> String {
        format!("{}:3478", self.ip)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Whether `address` (`ip:port`) is one of this server's relayed addresses.
    pub fn relays_to(&self, address: &str) -> bool {
        let Some((ip, port)) = address.rsplit_once(':') else {
            return false;
        };
        let port: u16 = port.parse().unwrap_or(0);
        ip == self.ip && (self.relays.0..=self.relays.1).contains(&port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        self.kill();
    }
}
