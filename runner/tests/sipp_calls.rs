//! The real `twoleg` binary between real SIPp caller and callee, on loopback.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn two_hundred_basic_calls_with_zero_failures() {
    require_sipp();
    let ip = ip(11);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas(dir.path(), &ip);
    let mut caller = uac(
        dir.path(),
        &ip,
        5080,
        &[
            "-m",
            "200",
            "-r",
            "100",
            "-d",
            "200",
            "-timeout",
            "60",
            "-timeout_error",
        ],
    );
    let code = caller.wait(Duration::from_secs(90));
    assert_eq!(
        code,
        0,
        "SIPp reports failed calls:\n{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(caller.counts(), (200, 0));
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 200),
        "{}",
        runner.log_text()
    );
    for record in runner.history() {
        assert_eq!(record["final_status"], 200);
        assert_eq!(record["outcome"], "completed");
        let legs = record["legs"].as_array().unwrap();
        assert_eq!(legs.len(), 2);
        assert_eq!(legs[0]["side"], "a");
        assert_eq!(legs[1]["side"], "b");
        assert_ne!(
            legs[0]["call_id"], legs[1]["call_id"],
            "each leg has its own Call-ID"
        );
        assert_eq!(legs[1]["peer"], format!("{ip}:5070"));
    }
    let (_, metrics) = runner.get("/metrics");
    assert!(
        metrics.contains("twoleg_calls_total{final_status=\"200\"} 200"),
        "{metrics}"
    );
    assert!(metrics.contains("twoleg_calls_active 0"), "{metrics}");
}

#[test]
fn a_callee_that_rejects_with_486() {
    require_sipp();
    let ip = ip(12);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas_scenario(dir.path(), &ip, "uas_busy", &[]);
    let mut caller = uac_scenario(dir.path(), &ip, "uac_busy", 10, &[]);
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(caller.counts(), (10, 0));
    assert!(eventually(Duration::from_secs(10), || runner
        .history()
        .len()
        == 10));
    for record in runner.history() {
        assert_eq!(record["final_status"], 486);
        assert_eq!(record["outcome"], "rejected");
        assert_eq!(record["ended_by"], "callee");
    }
}

#[test]
fn a_caller_that_cancels_while_ringing() {
    require_sipp();
    let ip = ip(13);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let _uas = uas_scenario(dir.path(), &ip, "uas_ring", &[]);
    let mut caller = uac_scenario(dir.path(), &ip, "uac_cancel", 10, &[]);
    assert_eq!(
        caller.wait(Duration::from_secs(60)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(caller.counts(), (10, 0));
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 10),
        "{}",
        runner.log_text()
    );
    for record in runner.history() {
        assert_eq!(record["final_status"], 487);
        assert_eq!(record["outcome"], "cancelled");
        assert_eq!(
            record["legs"][1]["final_status"], 487,
            "leg B got the CANCEL and answered 487"
        );
    }
}

/// Session timers against the running binary, with a 90 s interval: SIPp's caller refreshes
/// twice with UPDATE (relayed to SIPp's callee), the call lives past its interval, then the
/// caller stops and TwoLeg hangs up both legs before the interval runs out. About 120 s.
#[test]
fn a_caller_that_stops_refreshing_its_session_is_hung_up_on_both_legs() {
    require_sipp();
    let ip = ip(14);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&ip).replace(
        r#""listeners""#,
        r#""session_refresh_interval_s": 90, "min_session_refresh_interval_s": 90, "listeners""#,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let mut callee = uas_scenario(dir.path(), &ip, "uas_session_timer", &["-m", "1"]);
    let started = std::time::Instant::now();
    let mut caller = uac_scenario(
        dir.path(),
        &ip,
        "uac_session_timer",
        1,
        &["-timeout", "200"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(200)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(
        callee.wait(Duration::from_secs(10)),
        0,
        "{}",
        callee.screen()
    );
    // Two refreshes 30 s apart, then the expiry 60 s (90 - min(32, 30)) after the last.
    let lasted = started.elapsed();
    assert!(lasted >= Duration::from_secs(118), "{lasted:?}");
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() == 1),
        "{}",
        runner.log_text()
    );
    let record = runner.history().remove(0);
    assert_eq!(record["outcome"], "timed_out", "{record:#}");
    assert_eq!(record["ended_by"], "b2bua", "{record:#}");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("session timer expired on leg A"),
        "{record:#}"
    );
}

/// What a SIPp run logged (`-trace_logs`), all of its log files.
fn sipp_log(dir: &std::path::Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with("_logs.log"))
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect()
}

/// The word after `prefix` on the log line that starts with it.
fn logged<'a>(log: &'a str, prefix: &str) -> &'a str {
    log.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{prefix} not in:\n{log}"))
}

/// Runs SIPp's `uas_<name>` callee (one call) and `uac_<name>` caller (one call) through a
/// runner on `ip`; both must end with every message as scripted. Returns (caller's log,
/// callee's log, the runner).
fn scripted_call(n: u8, name: &str) -> (String, String, Runner, tempfile::TempDir) {
    require_sipp();
    let ip = ip(n);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(&ip, &config(&ip), dir.path(), &[]);
    let (callee_dir, caller_dir) = (dir.path().join("callee"), dir.path().join("caller"));
    std::fs::create_dir_all(&callee_dir).unwrap();
    std::fs::create_dir_all(&caller_dir).unwrap();
    let mut callee = uas_scenario(
        &callee_dir,
        &ip,
        &format!("uas_{name}"),
        &["-m", "1", "-trace_logs"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = uac_scenario(
        &caller_dir,
        &ip,
        &format!("uac_{name}"),
        1,
        &["-trace_logs"],
    );
    assert_eq!(
        caller.wait(Duration::from_secs(30)),
        0,
        "{}\n{}",
        caller.screen(),
        runner.log_text()
    );
    assert_eq!(
        callee.wait(Duration::from_secs(10)),
        0,
        "{}\n{}",
        callee.screen(),
        runner.log_text()
    );
    (sipp_log(&caller_dir), sipp_log(&callee_dir), runner, dir)
}

#[test]
fn a_redirect_reaches_the_caller_with_the_callees_contacts() {
    let (caller, _, runner, _dir) = scripted_call(15, "redirect");
    assert!(
        caller.contains("REDIRECTED Contact: <sip:voicemail@"),
        "{caller}"
    );
    assert!(eventually(Duration::from_secs(5), || runner
        .history()
        .len()
        == 1));
    assert_eq!(runner.history()[0]["final_status"], 302);
}

#[test]
fn a_forking_callee_gives_the_caller_one_early_dialog_per_fork_and_the_late_fork_is_hung_up() {
    let (caller, callee, runner, _dir) = scripted_call(16, "fork");
    let (fork1, fork2, answer) = (
        logged(&caller, "FORK1 "),
        logged(&caller, "FORK2 "),
        logged(&caller, "ANSWER "),
    );
    assert_ne!(fork1, fork2, "one early dialog per fork on leg A");
    assert_eq!(
        answer, fork2,
        "the answer is in the answering fork's early dialog"
    );
    // The callee's script only passes if the late fork got one ACK and one BYE.
    assert!(callee.contains("LATE FORK ACK"), "{callee}");
    assert!(callee.contains("LATE FORK BYE"), "{callee}");
    assert!(eventually(Duration::from_secs(5), || runner
        .history()
        .len()
        == 1));
    assert_eq!(runner.history()[0]["outcome"], "completed");
}

#[test]
fn reliable_provisionals_are_pracked_on_both_legs() {
    let (caller, callee, runner, _dir) = scripted_call(17, "100rel");
    assert!(callee.contains("OFFERED 100rel"), "{callee}");
    assert!(callee.contains("PRACKED RAck: 1"), "{callee}");
    // TwoLeg's 183 to the caller was reliable: Require: 100rel with an RSeq.
    let reliable = caller
        .lines()
        .find(|line| line.starts_with("RELIABLE "))
        .unwrap_or_else(|| panic!("{caller}"));
    let rseq: u32 = logged(&caller, "RELIABLE ").parse().unwrap();
    assert!(reliable.contains(&format!("RSeq: {rseq}")), "{reliable}");
    assert!(reliable.contains("Require: 100rel"), "{reliable}");
    assert!(eventually(Duration::from_secs(5), || runner
        .history()
        .len()
        == 1));
    assert_eq!(runner.history()[0]["outcome"], "completed");
}

#[test]
fn crossing_reinvites_give_the_callee_491_and_the_callers_goes_through() {
    let (_, callee, runner, _dir) = scripted_call(18, "glare");
    assert!(callee.contains("REREQUEST"), "{callee}");
    assert!(eventually(Duration::from_secs(5), || runner
        .history()
        .len()
        == 1));
    assert_eq!(runner.history()[0]["outcome"], "completed");
}

/// SIPp placing calls at twice what the route admits per second: the excess is refused with
/// 503 (never a second leg), every admitted call completes, and nothing is left behind.
#[test]
fn sipp_at_twice_a_routes_call_rate_gets_503_for_the_excess_and_the_rest_complete() {
    require_sipp();
    let ip = ip(19);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&ip).replace(
        r#""destination": "#,
        r#""max_calls_per_second": 10, "destination": "#,
    );
    let runner = Runner::start(&ip, &config, dir.path(), &[]);
    let _uas = uas(dir.path(), &ip);
    let mut caller = uac(
        dir.path(),
        &ip,
        5080,
        &["-m", "100", "-r", "20", "-d", "200", "-timeout", "60"],
    );
    caller.wait(Duration::from_secs(90));
    let (completed, refused) = caller.counts();
    assert_eq!(completed + refused, 100, "{}", caller.screen());
    // 5 s at 20 calls/s against 10 admitted per second: about half go through.
    assert!(
        (40..=65).contains(&completed),
        "{completed} completed\n{}",
        caller.screen()
    );
    assert!(
        eventually(Duration::from_secs(10), || runner.history().len() as u64
            == completed),
        "only admitted calls are calls: {} records, statuses {:?}",
        runner.history().len(),
        runner.log_text()
    );
    assert!(
        runner
            .history()
            .iter()
            .all(|record| record["final_status"] == 200)
    );
    let (_, metrics) = runner.get("/metrics");
    assert!(metrics.contains("twoleg_calls_active 0"), "{metrics}");
}
