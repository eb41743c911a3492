//! Real baresip (Debian `baresip-core`) as a caller or callee: over TLS (a config directory per
//! instance with its certificate and key, the CA it trusts, one account), or over UDP with SRTP
//! as its account asks (`;mediaenc=srtp-mand`, `;mediaenc=srtp`, or none); commands given on the
//! command line, its output in a file. baresip listens for SIP on `ip:5090` (and for TLS on the
//! next port, `ip:5091`); its microphone is a 440 Hz sine, and its `rtcpsummary` module prints
//! what RTCP said of each call at its end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::pki::Leaf;

/// `baresip` must be installed: the TLS tests use a real SIP peer.
pub fn require_baresip() {
    let found = Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "baresip is not installed: apt-get install baresip-core (.ci/run does this)"
    );
}

/// One running baresip.
pub struct Baresip {
    child: Child,
    pub output: PathBuf,
}

impl Baresip {
    /// A callee on `ip` answering every call at once, for `seconds`.
    pub fn callee(dir: &Path, ip: &str, leaf: &Leaf, ca: &Path, seconds: u32) -> Self {
        Self::tls_callee(dir, ip, leaf, ca, "", seconds)
    }

    /// A TLS callee with the account parameters `params` (`;mediaenc=srtp-mand`, ...).
    pub fn tls_callee(
        dir: &Path,
        ip: &str,
        leaf: &Leaf,
        ca: &Path,
        params: &str,
        seconds: u32,
    ) -> Self {
        let home = configure(dir, "callee", ip, leaf, ca);
        std::fs::write(
            home.join("accounts"),
            format!(
                "<sip:callee@{ip};transport=tls>{params};answermode=auto;catchall=yes;regint=0\n"
            ),
        )
        .unwrap();
        Self::spawn(&home, &[], seconds)
    }

    /// A caller on `ip` that dials `target` over TLS at once and hangs up when `seconds` are
    /// over.
    pub fn caller(
        dir: &Path,
        ip: &str,
        leaf: &Leaf,
        ca: &Path,
        target: &str,
        seconds: u32,
    ) -> Self {
        Self::tls_caller(dir, ip, leaf, ca, target, "", seconds)
    }

    /// A TLS caller with the account parameters `params` (`;mediaenc=srtp-mand`, ...).
    pub fn tls_caller(
        dir: &Path,
        ip: &str,
        leaf: &Leaf,
        ca: &Path,
        target: &str,
        params: &str,
        seconds: u32,
    ) -> Self {
        let home = configure(dir, "caller", ip, leaf, ca);
        std::fs::write(
            home.join("accounts"),
            format!("<sip:caller@{ip};transport=tls>{params};regint=0\n"),
        )
        .unwrap();
        let dial = format!("/dial {target}");
        Self::spawn(&home, &["-e", &dial], seconds)
    }

    /// baresip over UDP on `ip` as `name`, with the account parameters `params` (for example
    /// `;mediaenc=srtp-mand`), answering every call, or dialling `dial` at once; it quits when
    /// `seconds` are over.
    pub fn udp(
        dir: &Path,
        name: &str,
        ip: &str,
        params: &str,
        dial: Option<&str>,
        seconds: u32,
    ) -> Self {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("config"), config_lines(ip, "")).unwrap();
        let answer = if dial.is_none() {
            ";answermode=auto"
        } else {
            ""
        };
        std::fs::write(
            home.join("accounts"),
            format!("<sip:{name}@{ip}>{params}{answer};regint=0\n"),
        )
        .unwrap();
        let dial = dial.map(|target| format!("/dial {target}"));
        let extra: Vec<&str> = match &dial {
            Some(dial) => vec!["-e", dial],
            None => Vec::new(),
        };
        Self::spawn(&home, &extra, seconds)
    }

    /// The process id (to kill it the hard way).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(home: &Path, extra: &[&str], seconds: u32) -> Self {
        let output = home.join("output.txt");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(home)
            .args(extra)
            .args(["-t", &seconds.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&output).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip starts");
        Self { child, output }
    }

    /// What baresip printed so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits for baresip to quit.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "baresip did not quit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `dir/<name>/config`: SIP and media on `ip`, the leaf as SIP certificate, a sine
/// tone as the microphone and nothing as the speaker.
fn configure(dir: &Path, name: &str, ip: &str, leaf: &Leaf, ca: &Path) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let tls = format!(
        "sip_certificate {certificate}\nsip_cafile {ca}\n",
        certificate = leaf.combined.display(),
        ca = ca.display(),
    );
    std::fs::write(home.join("config"), config_lines(ip, &tls)).unwrap();
    home
}

/// A baresip config: SIP and media on `ip`, `extra` lines, a sine tone as the microphone and
/// nothing as the speaker, G.711 only, SRTP available, an RTCP summary at each call's end.
fn config_lines(ip: &str, extra: &str) -> String {
    format!(
        "poll_method epoll\n\
         sip_listen {ip}:5090\n\
         {extra}\
         net_interface {ip}\n\
         audio_player aufile,/dev/null\n\
         audio_source ausine,440\n\
         audio_alert aufile,/dev/null\n\
         ausrc_srate 48000\n\
         auplay_srate 48000\n\
         ausrc_channels 2\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module ausine.so\n\
         module aufile.so\n\
         module srtp.so\n\
         module rtcpsummary.so\n\
         module_app account.so\n\
         module_app menu.so\n"
    )
}
