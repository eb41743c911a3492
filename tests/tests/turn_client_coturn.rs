//! TwoLeg's sans-IO TURN client against real coturn on loopback: Allocate with long-term
//! credentials, CreatePermission, Refresh, Refresh(0); a wrong password ends in 401.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use twoleg_core::Instant;
use twoleg_core::turn::{AllocationState, TurnAllocation, TurnFailure};

const LISTEN: &str = "127.0.0.1:3578";
const RELAY_MIN: u16 = 49_300;
const RELAY_MAX: u16 = 49_349;

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts coturn (Debian `coturn`, installed by .ci/run) with the flags of reference/turn.md §4.2
/// and waits until it answers a STUN Binding from a fresh socket.
fn coturn(dir: &std::path::Path, port: u16, relays: (u16, u16)) -> Coturn {
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new("turnserver")
        .args([
            "-n",
            "-L",
            "127.0.0.1",
            "-E",
            "127.0.0.1",
            "--listening-port",
            &port.to_string(),
        ])
        .args([
            "--min-port",
            &relays.0.to_string(),
            "--max-port",
            &relays.1.to_string(),
        ])
        .args([
            "--lt-cred-mech",
            "--user",
            "alice:secret",
            "--realm",
            "example.test",
        ])
        .args([
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-rfc5780",
            "--allow-loopback-peers",
        ])
        .arg("--userdb")
        .arg(dir.join("turn.db"))
        .arg("--pidfile")
        .arg(dir.join("turn.pid"))
        .args(["--log-file", "stdout", "--simple-log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver runs: apt-get install coturn (.ci/run does this)");
    let coturn = Coturn(child);
    let binding: Vec<u8> = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]
        .into_iter()
        .chain([9; 12])
        .collect();
    for _ in 0..100 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        probe.send_to(&binding, &listen).unwrap();
        let mut buffer = [0; 512];
        if probe.recv_from(&mut buffer).is_ok() {
            return coturn;
        }
    }
    panic!("coturn did not answer on {listen}");
}

/// Runs one allocation's exchanges over a real socket until nothing is pending.
fn drive(
    allocation: &mut TurnAllocation,
    socket: &UdpSocket,
    first: Vec<Vec<u8>>,
    start: std::time::Instant,
    rng: &mut StdRng,
) {
    let now = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
    for bytes in first {
        socket.send_to(&bytes, allocation.server()).unwrap();
    }
    let mut buffer = [0; 2048];
    while let Some(deadline) = allocation.poll_timeout() {
        let wait = deadline
            .saturating_since(now())
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait)).unwrap();
        let out = match socket.recv_from(&mut buffer) {
            Ok((n, _)) => allocation.handle_datagram(&buffer[..n], now(), rng),
            Err(_) => allocation.handle_timeout(now()),
        };
        for bytes in out {
            socket.send_to(&bytes, allocation.server()).unwrap();
        }
    }
}

#[test]
fn allocate_permit_refresh_and_delete_on_real_coturn() {
    let dir = tempfile_dir();
    let _coturn = coturn(&dir, 3578, (RELAY_MIN, RELAY_MAX));
    let server: SocketAddr = LISTEN.parse().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = std::time::Instant::now();
    let now = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
    let mut rng = StdRng::seed_from_u64(5);

    let (mut allocation, first) =
        TurnAllocation::allocate(server, "alice", "secret", now(), &mut rng);
    drive(&mut allocation, &socket, vec![first], start, &mut rng);
    let AllocationState::Allocated {
        relayed,
        mapped,
        lifetime,
    } = allocation.state().clone()
    else {
        panic!("not allocated: {:?}", allocation.state());
    };
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    assert!(
        (RELAY_MIN..=RELAY_MAX).contains(&relayed.port()),
        "relay {relayed} outside the server's range"
    );
    assert_eq!(
        mapped,
        socket.local_addr().unwrap(),
        "the server saw the client's own address"
    );
    assert!(lifetime >= Duration::from_secs(60));

    let permit = allocation.create_permission("127.0.0.1".parse().unwrap(), now(), &mut rng);
    drive(&mut allocation, &socket, vec![permit], start, &mut rng);
    assert_eq!(
        allocation.permissions(),
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );

    let refresh = allocation.refresh(Duration::from_secs(600), now(), &mut rng);
    drive(&mut allocation, &socket, vec![refresh], start, &mut rng);
    assert!(matches!(
        allocation.state(),
        AllocationState::Allocated { .. }
    ));

    let delete = allocation.refresh(Duration::ZERO, now(), &mut rng);
    drive(&mut allocation, &socket, vec![delete], start, &mut rng);
    assert_eq!(allocation.state(), &AllocationState::Closed);
}

#[test]
fn a_wrong_password_ends_in_401() {
    let dir = tempfile_dir();
    let dir = dir.join("wrong");
    std::fs::create_dir_all(&dir).unwrap();
    let _coturn = coturn(&dir, 3579, (49_350, 49_399));
    let server: SocketAddr = "127.0.0.1:3579".parse().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(6);
    let (mut allocation, first) =
        TurnAllocation::allocate(server, "alice", "not-the-password", Instant::ZERO, &mut rng);
    drive(&mut allocation, &socket, vec![first], start, &mut rng);
    assert_eq!(
        allocation.state(),
        &AllocationState::Failed(TurnFailure::Error(401))
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "twoleg-coturn-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
