//! Real dnsmasq (Debian `dnsmasq-base`) on loopback as the DNS server of a test: authoritative
//! for `.test` (unknown names get NXDOMAIN), records from its command line (SRV, NAPTR, A) and
//! from a hosts file it reads again on SIGHUP, TTL 1 s on all of them, queries logged.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running dnsmasq.
pub struct Dnsmasq {
    pub child: Child,
    pub address: String,
    pub hosts: PathBuf,
    pub log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq on `ip:5353` with these records (`--srv-host=...`, `--naptr-record=...`,
    /// `--host-record=...`) and `hosts` (lines of `ip name`) as its hosts file; waits until it
    /// answers.
    pub fn start(dir: &Path, ip: &str, records: &[String], hosts: &str) -> Self {
        let dir = dir.join(format!("dnsmasq-{ip}"));
        std::fs::create_dir_all(&dir).unwrap();
        let hosts_file = dir.join("hosts");
        std::fs::write(&hosts_file, hosts).unwrap();
        let log = dir.join("dnsmasq.log");
        let program = ["/usr/sbin/dnsmasq", "dnsmasq"]
            .into_iter()
            .find(|p| Path::new(p).exists() || *p == "dnsmasq")
            .unwrap();
        let child = Command::new(program)
            .args([
                "--no-daemon",
                "--user=root",
                "--port=5353",
                "--bind-interfaces",
            ])
            .arg(format!("--listen-address={ip}"))
            .args([
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--local=/test/",
            ])
            .args([
                "--local-ttl=1",
                "--neg-ttl=1",
                "--log-queries",
                "--log-facility=-",
            ])
            .arg(format!("--addn-hosts={}", hosts_file.display()))
            .args(records)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("dnsmasq runs: apt-get install dnsmasq-base (.ci/run does this)");
        let dnsmasq = Self {
            child,
            address: format!("{ip}:5353"),
            hosts: hosts_file,
            log,
        };
        // A query for the SOA of `test` until one is answered.
        let query: Vec<u8> = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            .into_iter()
            .chain([4, b't', b'e', b's', b't', 0, 0, 6, 0, 1])
            .collect();
        let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        for _ in 0..50 {
            let _ = socket.send_to(&query, &dnsmasq.address);
            let mut buffer = [0u8; 512];
            if socket.recv_from(&mut buffer).is_ok() {
                return dnsmasq;
            }
        }
        panic!("dnsmasq did not answer:\n{}", dnsmasq.log_text());
    }

    /// Replaces the hosts file and has dnsmasq read it again.
    pub fn set_hosts(&self, hosts: &str) {
        std::fs::write(&self.hosts, hosts).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
