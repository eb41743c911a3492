//! Session timers (RFC 4028), per leg, in virtual time: Session-Expires and Min-SE negotiated
//! independently on each leg, 422 both ways, the refresher chosen per the RFC, TwoLeg
//! refreshing a leg with UPDATE when it is that leg's refresher (and retrying after 491 with
//! RFC 3261 §14.1's wait), and BYE on both legs when a leg expires.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::status::Outcome;

const MINUTE: Duration = Duration::from_secs(60);

/// The caller's INVITE offering session timers (it refreshes).
fn invite_with_timer(call_id: &str, expires: &str) -> String {
    let extra = format!(
        "Session-Expires: {expires}\r\nSupported: timer\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, UPDATE\r\n"
    );
    invite(call_id, "z9hG4bKst1", 1, 70, &extra, SDP)
}

/// Answers leg B's INVITE with `extra` headers (and the callee's Contact) and ACKs leg A;
/// returns (A-leg 200, B-leg INVITE).
fn answer(net: &mut Net, call_id: &str, extra: &str) -> (Msg, Msg) {
    let b_invite = net.expect_one(CALLEE, "INVITE");
    let headers = format!("Contact: <sip:bob@{CALLEE}>\r\n{extra}");
    net.send(
        CALLEE,
        &b_invite.reply(200, "OK", Some("bob-tag"), &headers, SDP_ANSWER),
    );
    let ok = net.expect_one(CALLER, "200");
    let tag = ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack(call_id, 1, &tag, ""));
    net.take();
    (ok, b_invite)
}

#[test]
fn a_caller_that_refreshes_keeps_the_call_past_three_intervals_and_one_that_stops_is_hung_up() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite_with_timer("st1", "1800;refresher=uac"));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert_eq!(
        b_invite.header("Session-Expires"),
        Some("1800;refresher=uas"),
        "leg B is negotiated on its own: TwoLeg asks the callee to refresh"
    );
    assert_eq!(b_invite.header("Min-SE"), Some("500"));
    assert!(b_invite.header("Supported").unwrap().contains("timer"));
    let headers = format!(
        "Contact: <sip:bob@{CALLEE}>\r\nSession-Expires: 1800;refresher=uas\r\nRequire: timer\r\n"
    );
    net.send(
        CALLEE,
        &b_invite.reply(200, "OK", Some("bob-tag"), &headers, SDP_ANSWER),
    );
    let ok = net.expect_one(CALLER, "200");
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    let tag = ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("st1", 1, &tag, ""));
    net.take();

    // The caller refreshes with UPDATE every 15 minutes, four times: an hour, over three
    // intervals; each refresh is relayed to leg B and answered.
    for round in 0..4u32 {
        net.advance(15 * MINUTE);
        let cseq = 2 + round;
        let branch = format!("z9hG4bKst1u{round}");
        let refresh = caller_request(
            "UPDATE",
            "st1",
            &branch,
            cseq,
            &tag,
            "Session-Expires: 1800;refresher=uac\r\nSupported: timer\r\n",
            "",
        );
        net.send(CALLER, &refresh);
        let update = net.expect_one(CALLEE, "UPDATE");
        assert_eq!(update.header("Session-Expires"), Some("1800;refresher=uas"));
        net.send(
            CALLEE,
            &update.reply(
                200,
                "OK",
                None,
                "Session-Expires: 1800;refresher=uas\r\n",
                "",
            ),
        );
        let ok = net.expect_one(CALLER, "200");
        assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    }
    assert_eq!(net.engine().call_count(), 1, "alive after an hour");

    // The caller stops: both legs get BYE before the interval runs out (1800 - 32 s).
    net.advance(Duration::from_secs(1_800 - 33));
    assert!(net.take().is_empty(), "nothing before expiry minus 32 s");
    net.advance(Duration::from_secs(2));
    let sent = net.take();
    let bye_a = sent.iter().find(|m| m.to == addr(CALLER) && m.is("BYE"));
    let bye_b = sent.iter().find(|m| m.to == addr(CALLEE) && m.is("BYE"));
    let (bye_a, bye_b) = (bye_a.expect("BYE on leg A"), bye_b.expect("BYE on leg B"));
    assert!(
        bye_a
            .header("Reason")
            .unwrap()
            .contains("session timer expired")
    );
    assert!(bye_b.header("Reason").unwrap().contains("cause=408"));
    net.advance(MINUTE);
    let record = net.history().pop().unwrap();
    assert_eq!(record.outcome, Outcome::TimedOut);
    assert!(
        record.reason.contains("session timer expired"),
        "{}",
        record.reason
    );
}

/// TwoLeg's UPDATE on leg B since the last look (retransmissions of it aside).
fn twolegs_update(net: &mut Net) -> Msg {
    let updates: Vec<Msg> = net
        .take_to(CALLEE)
        .into_iter()
        .filter(|m| m.is("UPDATE"))
        .collect();
    assert!(!updates.is_empty(), "an UPDATE on leg B");
    assert!(
        updates.iter().all(|m| m.branch() == updates[0].branch()),
        "one UPDATE (and its retransmissions)"
    );
    updates.into_iter().next().unwrap()
}

#[test]
fn twoleg_refreshes_a_leg_whose_callee_names_it_refresher_and_retries_after_491() {
    let mut net = Net::new(config());
    // A caller that knows nothing of session timers: no timer on leg A.
    net.send(CALLER, &invite("st2", "z9hG4bKst2", 1, 70, "", SDP));
    let (ok, b_invite) = answer(
        &mut net,
        "st2",
        "Session-Expires: 1800;refresher=uac\r\nRequire: timer\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    assert_eq!(
        ok.header("Session-Expires"),
        None,
        "no session timer on leg A"
    );

    // At half the interval, TwoLeg's UPDATE on leg B; the callee answers.
    net.advance(Duration::from_secs(899));
    assert!(net.take_to(CALLEE).is_empty());
    net.advance(Duration::from_secs(1));
    let update = twolegs_update(&mut net);
    assert_eq!(update.header("Session-Expires"), Some("1800;refresher=uac"));
    assert!(update.header("Supported").unwrap().contains("timer"));
    assert_eq!(update.header("Call-ID"), b_invite.header("Call-ID"));
    assert!(update.body().is_empty());
    net.send(
        CALLEE,
        &update.reply(
            200,
            "OK",
            None,
            "Session-Expires: 1800;refresher=uac\r\n",
            "",
        ),
    );
    assert!(
        net.take_to(CALLER).is_empty(),
        "leg A hears nothing of leg B's refresh"
    );

    // The next refresh crosses an UPDATE of the callee's: 491, then again 2.1 to 4 s later
    // (TwoLeg owns leg B's Call-ID, RFC 3261 §14.1).
    net.advance(Duration::from_secs(900));
    let update = twolegs_update(&mut net);
    net.send(CALLEE, &update.reply(491, "Request Pending", None, "", ""));
    net.take();
    net.advance(Duration::from_millis(2_090));
    assert!(
        net.take_to(CALLEE).iter().all(|m| !m.is("UPDATE")),
        "not before 2.1 s"
    );
    net.advance(Duration::from_millis(1_920));
    let again = twolegs_update(&mut net);
    assert_ne!(again.branch(), update.branch());
    net.send(
        CALLEE,
        &again.reply(
            200,
            "OK",
            None,
            "Session-Expires: 1800;refresher=uac\r\n",
            "",
        ),
    );
    // Three intervals on, the call is up: TwoLeg kept refreshing.
    for _ in 0..4 {
        net.advance(15 * MINUTE);
        let update = twolegs_update(&mut net);
        net.send(
            CALLEE,
            &update.reply(
                200,
                "OK",
                None,
                "Session-Expires: 1800;refresher=uac\r\n",
                "",
            ),
        );
    }
    assert_eq!(net.engine().call_count(), 1);
    // A refresh answered 481: the leg is gone, the call ends on both legs.
    net.advance(15 * MINUTE);
    let update = twolegs_update(&mut net);
    net.send(
        CALLEE,
        &update.reply(481, "Call Does Not Exist", None, "", ""),
    );
    let sent = net.take();
    assert!(sent.iter().any(|m| m.to == addr(CALLER) && m.is("BYE")));
    assert!(sent.iter().any(|m| m.to == addr(CALLEE) && m.is("BYE")));
}

#[test]
fn a_session_expires_below_the_minimum_gets_422_with_min_se_and_no_leg_b() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite_with_timer("st3", "120"));
    let sent = net.take();
    let refused = sent.iter().find(|m| m.status() == Some(422)).expect("422");
    assert_eq!(refused.header("Min-SE"), Some("500"));
    assert!(!sent.iter().any(|m| m.to == addr(CALLEE)), "no leg B");
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a_callee_that_answers_422_gets_the_invite_again_with_its_minimum() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("st4", "z9hG4bKst4", 1, 70, "", SDP));
    let first = net.expect_one(CALLEE, "INVITE");
    net.send(
        CALLEE,
        &first.reply(
            422,
            "Session Interval Too Small",
            Some("x"),
            "Min-SE: 2400\r\n",
            "",
        ),
    );
    let sent = net.take();
    assert!(
        sent.iter().any(|m| m.to == addr(CALLEE) && m.is("ACK")),
        "the 422 is ACKed"
    );
    let second = sent
        .iter()
        .find(|m| m.to == addr(CALLEE) && m.is("INVITE"))
        .expect("the INVITE again");
    assert!(
        !sent
            .iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(422))
    );
    assert_eq!(second.header("Session-Expires"), Some("2400;refresher=uas"));
    assert_eq!(second.header("Min-SE"), Some("2400"));
    assert_ne!(second.branch(), first.branch());
    assert_eq!(second.header("Call-ID"), first.header("Call-ID"));
    assert_eq!(
        second.parsed.cseq.number,
        first.parsed.cseq.number + 1,
        "the next CSeq"
    );
    let headers = format!("Contact: <sip:bob@{CALLEE}>\r\nSession-Expires: 2400;refresher=uas\r\n");
    net.send(
        CALLEE,
        &second.reply(200, "OK", Some("bob-tag"), &headers, SDP_ANSWER),
    );
    net.expect_one(CALLER, "200");
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn a_callee_without_session_timers_gets_no_refresh_and_its_call_no_expiry() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("st5", "z9hG4bKst5", 1, 70, "", SDP));
    answer(&mut net, "st5", "");
    net.advance(Duration::from_secs(3 * 3_600));
    assert!(net.take().is_empty(), "no UPDATE, no BYE");
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn h4_a_refresh_refused_with_422_is_sent_again_with_the_larger_interval_and_the_call_survives() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("st6", "z9hG4bKst6", 1, 70, "", SDP));
    answer(
        &mut net,
        "st6",
        "Session-Expires: 1800;refresher=uac\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    net.advance(Duration::from_secs(900));
    let update = twolegs_update(&mut net);
    net.send(
        CALLEE,
        &update.reply(
            422,
            "Session Interval Too Small",
            None,
            "Min-SE: 2400\r\n",
            "",
        ),
    );
    net.advance(Duration::from_millis(1));
    let again = twolegs_update(&mut net);
    assert_eq!(again.header("Session-Expires"), Some("2400;refresher=uac"));
    net.send(
        CALLEE,
        &again.reply(
            200,
            "OK",
            None,
            "Session-Expires: 2400;refresher=uac\r\n",
            "",
        ),
    );
    // The next refresh is at half the new interval; the call is up all along.
    net.advance(Duration::from_secs(1_199));
    assert!(net.take_to(CALLEE).iter().all(|m| !m.is("UPDATE")));
    net.advance(Duration::from_secs(1));
    twolegs_update(&mut net);
    assert_eq!(net.engine().call_count(), 1);
}

#[test]
fn a_route_may_have_session_timers_of_its_own() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "destination": "{CALLEE}", "session_refresh_interval_s": 600,
                            "min_session_refresh_interval_s": 300 }} ] }}"#
    );
    let mut net = Net::new(twoleg_core::config::ValidConfig::from_json(&text).unwrap());
    net.send(CALLER, &invite_with_timer("st7", "200"));
    let refused = net.expect_one(CALLER, "422");
    assert_eq!(refused.header("Min-SE"), Some("300"), "the route's minimum");
    net.send(CALLER, &invite("st8", "z9hG4bKst8", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    assert_eq!(
        b_invite.header("Session-Expires"),
        Some("600;refresher=uas")
    );
    assert_eq!(b_invite.header("Min-SE"), Some("300"));
    // A route's interval below its minimum is a config error.
    let bad = text.replace("600", "200");
    let problems = twoleg_core::config::ValidConfig::from_json(&bad).unwrap_err();
    assert!(
        problems
            .to_string()
            .contains("routes[0].session_refresh_interval_s"),
        "{problems}"
    );
}

#[test]
fn a_refresh_refused_405_drops_the_legs_timer_and_a_422_without_a_larger_minimum_is_not_retried() {
    let mut net = Net::new(config());
    net.send(CALLER, &invite("st9", "z9hG4bKst9", 1, 70, "", SDP));
    answer(&mut net, "st9", "Session-Expires: 1800;refresher=uac\r\n");
    net.advance(Duration::from_secs(900));
    let update = twolegs_update(&mut net);
    // 422 naming no larger minimum: no UPDATE at once.
    net.send(
        CALLEE,
        &update.reply(
            422,
            "Session Interval Too Small",
            None,
            "Min-SE: 90\r\n",
            "",
        ),
    );
    net.advance(Duration::from_secs(1));
    assert!(net.take_to(CALLEE).iter().all(|m| !m.is("UPDATE")));
    // The call is not alive forever on a timer nobody refreshes: the expiry ends it.
    net.advance(Duration::from_secs(900));
    assert!(net.take_to(CALLER).iter().any(|m| m.is("BYE")));

    let mut net = Net::new(config());
    net.send(CALLER, &invite("st10", "z9hG4bKst10", 1, 70, "", SDP));
    answer(&mut net, "st10", "Session-Expires: 1800;refresher=uac\r\n");
    net.advance(Duration::from_secs(900));
    let update = twolegs_update(&mut net);
    net.send(
        CALLEE,
        &update.reply(
            405,
            "Method Not Allowed",
            None,
            "Allow: INVITE, ACK, BYE\r\n",
            "",
        ),
    );
    // No UPDATE again, no expiry: the leg has no session timer any more.
    net.advance(Duration::from_secs(3 * 3_600));
    assert!(net.take().iter().all(|m| !m.is("UPDATE") && !m.is("BYE")));
    assert_eq!(net.engine().call_count(), 1);
}
