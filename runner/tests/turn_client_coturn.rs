//! TwoLeg's sans-IO TURN client against real coturn on loopback: Allocate with long-term
//! credentials, CreatePermission, Refresh, Refresh(0); a wrong password ends in 401.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::coturn::Coturn;
use rand::SeedableRng;
use rand::rngs::StdRng;
use twoleg_core::Instant;
use twoleg_core::turn::{AllocationState, TurnAllocation, TurnFailure};

const IP: &str = "127.0.0.82";
const WRONG_IP: &str = "127.0.0.83";
const RELAY_MIN: u16 = 49_300;
const RELAY_MAX: u16 = 49_349;

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
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path(), IP, (RELAY_MIN, RELAY_MAX));
    let server: SocketAddr = coturn.address().parse().unwrap();
    let socket = UdpSocket::bind(format!("{IP}:0")).unwrap();
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
    assert!(
        coturn.relays_to(&relayed.to_string()),
        "relay {relayed} outside the server's range"
    );
    assert_eq!(
        mapped,
        socket.local_addr().unwrap(),
        "the server saw the client's own address"
    );
    assert!(lifetime >= Duration::from_secs(60));

    let permit = allocation.create_permission(IP.parse().unwrap(), now(), &mut rng);
    drive(&mut allocation, &socket, vec![permit], start, &mut rng);
    assert_eq!(
        allocation.permissions(),
        [IP.parse::<std::net::IpAddr>().unwrap()]
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
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path(), WRONG_IP, (49_350, 49_399));
    let server: SocketAddr = coturn.address().parse().unwrap();
    let socket = UdpSocket::bind(format!("{WRONG_IP}:0")).unwrap();
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

#[test]
fn a_300_try_alternate_from_coturn_moves_the_allocation_to_the_alternate_server() {
    let dir = tempfile::tempdir().unwrap();
    let alternate = Coturn::start(dir.path(), "127.0.0.84", (49_950, 49_969));
    let front = Coturn::start_with(
        dir.path(),
        "127.0.0.85",
        (49_970, 49_989),
        &["--alternate-server", "127.0.0.84:3478"],
    );
    let socket = UdpSocket::bind("127.0.0.85:0").unwrap();
    let start = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let server: SocketAddr = front.address().parse().unwrap();
    let (mut allocation, first) =
        TurnAllocation::allocate(server, "alice", "secret", Instant::ZERO, &mut rng);
    drive(&mut allocation, &socket, vec![first], start, &mut rng);
    let AllocationState::Allocated { relayed, .. } = allocation.state().clone() else {
        panic!("not allocated: {:?}", allocation.state());
    };
    assert_eq!(allocation.server().to_string(), alternate.address());
    assert!(alternate.relays_to(&relayed.to_string()), "{relayed}");
    assert_eq!(front.count("ALLOCATE processed, success"), 0);
    assert_eq!(alternate.count("ALLOCATE processed, success"), 1);
}

#[test]
fn a_stale_nonce_438_is_answered_with_the_new_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start_with(
        dir.path(),
        "127.0.0.86",
        (49_990, 49_999),
        &["--stale-nonce=1"],
    );
    let socket = UdpSocket::bind("127.0.0.86:0").unwrap();
    let start = std::time::Instant::now();
    let now = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
    let mut rng = StdRng::seed_from_u64(8);
    let server: SocketAddr = coturn.address().parse().unwrap();
    let (mut allocation, first) =
        TurnAllocation::allocate(server, "alice", "secret", now(), &mut rng);
    drive(&mut allocation, &socket, vec![first], start, &mut rng);
    assert!(matches!(
        allocation.state(),
        AllocationState::Allocated { .. }
    ));
    std::thread::sleep(Duration::from_millis(2_500));
    for _ in 0..3 {
        let refresh = allocation.refresh(Duration::from_secs(600), now(), &mut rng);
        drive(&mut allocation, &socket, vec![refresh], start, &mut rng);
    }
    assert!(
        coturn.count("error 438") >= 1,
        "coturn found the nonce stale:\n{}",
        coturn.log_text()
    );
    assert_eq!(
        coturn.count("REFRESH processed, success"),
        3,
        "{}",
        coturn.log_text()
    );
    let delete = allocation.refresh(Duration::ZERO, now(), &mut rng);
    drive(&mut allocation, &socket, vec![delete], start, &mut rng);
    assert_eq!(allocation.state(), &AllocationState::Closed);
}
