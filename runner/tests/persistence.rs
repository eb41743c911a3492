//! Call history survives a kill -9 and a restart; a torn last record is skipped, never a reason
//! to refuse to start.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

#[test]
fn history_survives_kill_9_and_restart() {
    require_sipp();
    let ip = ip(31);
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas(dir.path(), &ip);
    let mut caller = uac(
        dir.path(),
        &ip,
        5080,
        &["-m", "20", "-r", "20", "-d", "100"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}",
        runner.log_text()
    );
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 20));
    let before: Vec<String> = runner
        .history()
        .iter()
        .map(|r| r["tag"].as_str().unwrap().to_owned())
        .collect();

    runner.signal("-9");
    runner.wait(Duration::from_secs(10));
    drop(runner);
    // A record torn by the kill: half a line at the end of the file.
    let file = dir.path().join("data/history.jsonl");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(b"{\"tag\":\"torn")
        .unwrap();

    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let after: Vec<String> = runner
        .history()
        .iter()
        .map(|r| r["tag"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(after, before, "every finished call is back, newest first");
    assert!(
        runner.log_text().contains("skipping a torn history record"),
        "{}",
        runner.log_text()
    );
    // And it keeps recording.
    let mut caller = uac(dir.path(), &ip, 5081, &["-m", "1"]);
    assert_eq!(caller.wait(Duration::from_secs(30)), 0);
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 21));
}
