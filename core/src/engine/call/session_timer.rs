//! Session timers (RFC 4028) on each leg of a call, negotiated independently: leg A as the
//! caller's UAS, leg B as the callee's UAC. A leg's session is refreshed by whichever side its
//! negotiation named (`refresher`); TwoLeg refreshes its own with UPDATE at half the interval
//! and, whoever the refresher, ends the call (BYE on both legs, with a Reason) when a leg goes
//! `interval − min(32 s, interval/3)` without a refresh. Any re-INVITE or UPDATE answered 2xx
//! on a leg refreshes it, whichever side sent it.

use std::time::Duration;

use rand::Rng;

use super::{Call, CallId};
use crate::config::SessionTimerPolicy;
use crate::engine::timers::CallTimer;
use crate::engine::{B2bua, Owner};
use crate::sip::{HeaderName, Headers, Message, Method, Parsed, StatusCode};
use crate::status::{LegState, Side};

/// The shortest Session-Expires RFC 4028 allows (§4), in seconds.
const FLOOR_S: u64 = 90;

/// How long a refresh waits when a re-INVITE or UPDATE is already under way on its leg.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Who refreshes a leg's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refresher {
    /// TwoLeg, with UPDATE.
    Twoleg,
    /// The leg's peer.
    Peer,
}

/// A leg's session timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    /// Session-Expires.
    pub(crate) interval: Duration,
    pub(crate) refresher: Refresher,
    /// The peer takes the `timer` option (Supported or Require).
    pub(crate) peer_supports: bool,
}

/// What a message says of session timers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Said {
    /// Session-Expires in seconds, and its refresher parameter (`Some(true)`: uac).
    pub(crate) expires: Option<(u64, Option<bool>)>,
    /// Min-SE in seconds.
    pub(crate) min_se: Option<u64>,
    /// `timer` in Supported or Require.
    pub(crate) supports: bool,
}

/// Reads Session-Expires, Min-SE, Supported and Require.
pub(crate) fn said(headers: &Headers) -> Said {
    let expires = headers.get(&HeaderName::SESSION_EXPIRES).and_then(|value| {
        let mut parts = value.split(';');
        let seconds = parts.next()?.trim().parse().ok()?;
        let refresher = parts.find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("refresher")
                .then(|| value.trim().eq_ignore_ascii_case("uac"))
        });
        Some((seconds, refresher))
    });
    let min_se = headers
        .get(&HeaderName::MIN_SE)
        .and_then(|value| value.split(';').next()?.trim().parse().ok());
    let supports = [HeaderName::SUPPORTED, HeaderName::REQUIRE]
        .iter()
        .flat_map(|name| headers.get_all(name))
        .flat_map(|value| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("timer"));
    Said {
        expires,
        min_se,
        supports,
    }
}

/// Whether a peer's Allow names UPDATE (TwoLeg refreshes with UPDATE only).
pub(crate) fn allows_update(headers: &Headers) -> bool {
    headers
        .get_all(&HeaderName::ALLOW)
        .flat_map(|value| value.split(','))
        .any(|method| method.trim().eq_ignore_ascii_case("UPDATE"))
}

/// Leg A's session from the caller's INVITE (TwoLeg its UAS, RFC 4028 §9): `Err(min)` when
/// its Session-Expires is below TwoLeg's minimum (a 422 with that Min-SE); `None` when neither
/// side can refresh (the caller takes no `timer` and cannot be sent UPDATE).
pub(crate) fn for_caller(
    asked: &Said,
    allows_update: bool,
    policy: SessionTimerPolicy,
) -> Result<Option<SessionTimer>, u64> {
    let (cap, min) = (policy.interval.as_secs(), policy.min.as_secs());
    let floor = asked.min_se.unwrap_or(FLOOR_S).max(FLOOR_S);
    let (seconds, named) = match asked.expires {
        Some((seconds, _)) if seconds < min => return Err(min),
        Some((seconds, named)) => (seconds.min(cap).max(floor), named),
        None => (cap.max(floor), None),
    };
    let mut refresher = match named {
        Some(true) => Refresher::Peer,
        Some(false) => Refresher::Twoleg,
        None if asked.supports => Refresher::Peer,
        None => Refresher::Twoleg,
    };
    if refresher == Refresher::Twoleg && !allows_update {
        if !asked.supports {
            return Ok(None);
        }
        refresher = Refresher::Peer;
    }
    Ok(Some(SessionTimer {
        interval: Duration::from_secs(seconds),
        refresher,
        peer_supports: asked.supports,
    }))
}

/// A leg's session from a 2xx to a request TwoLeg sent on it (TwoLeg its UAC, RFC 4028 §7.2):
/// none when the 2xx has no Session-Expires.
pub(crate) fn from_answer(answer: &Said) -> Option<SessionTimer> {
    let (seconds, named) = answer.expires?;
    Some(SessionTimer {
        interval: Duration::from_secs(seconds.max(FLOOR_S)),
        // The UAS names the refresher; when it does not, the UAC (TwoLeg) refreshes.
        refresher: match named {
            Some(false) => Refresher::Peer,
            _ => Refresher::Twoleg,
        },
        peer_supports: true,
    })
}

/// Writes a leg's session into a message TwoLeg sends on it: a request (`as_uac`) carries
/// Session-Expires with the refresher and `Supported: timer`; a 2xx carries Session-Expires and,
/// to a peer that takes the option, `Require: timer`.
pub(crate) fn write(headers: &mut Headers, timer: &SessionTimer, as_uac: bool) {
    let twoleg_refreshes = timer.refresher == Refresher::Twoleg;
    let refresher = if twoleg_refreshes == as_uac {
        "uac"
    } else {
        "uas"
    };
    headers.push(
        HeaderName::SESSION_EXPIRES,
        format!("{};refresher={refresher}", timer.interval.as_secs()),
    );
    if as_uac {
        headers.push(HeaderName::SUPPORTED, "timer");
    } else if timer.peer_supports {
        headers.push(HeaderName::REQUIRE, "timer");
    }
}

/// TwoLeg's first INVITE on leg B: Session-Expires (the callee refreshes if it takes the
/// option) and Min-SE (its Supported names `timer`).
pub(crate) fn write_offer(headers: &mut Headers, interval: u64, min: u64) {
    headers.push(
        HeaderName::SESSION_EXPIRES,
        format!("{interval};refresher=uas"),
    );
    headers.push(HeaderName::MIN_SE, min.to_string());
}

impl B2bua {
    /// A leg's session was established or refreshed: its refresh (when TwoLeg is the
    /// refresher) and expiry deadlines start over.
    pub(crate) fn arm_session(&mut self, call: &Call, side: Side) {
        let id = call.id;
        self.cancel_call_timer(id, CallTimer::SessionRefresh(side));
        self.cancel_call_timer(id, CallTimer::SessionExpiry(side));
        let Some(timer) = call.leg(side).session else {
            return;
        };
        // Not on an early dialog: the timers start with the answer (and a BYE may not end an
        // early dialog on the side TwoLeg answers, RFC 3261 §15).
        if call.leg(side).state != LegState::Confirmed {
            return;
        }
        if timer.refresher == Refresher::Twoleg {
            self.set_call_timer(id, CallTimer::SessionRefresh(side), timer.interval / 2);
        }
        let margin = (timer.interval / 3).min(Duration::from_secs(32));
        self.set_call_timer(id, CallTimer::SessionExpiry(side), timer.interval - margin);
    }

    /// TwoLeg's turn to refresh a leg: UPDATE, unless a re-INVITE or UPDATE is under way there
    /// (it refreshes the leg when answered).
    pub(crate) fn on_session_refresh(&mut self, call: &mut Call, side: Side) {
        let id = call.id;
        let leg = call.leg(side);
        if leg.state != LegState::Confirmed || leg.bye_sent {
            return;
        }
        let busy = leg.refresh_pending
            || leg.awaiting_ack.is_some()
            || call
                .relays
                .values()
                .any(|r| matches!(r.method, Method::INVITE | Method::UPDATE));
        if busy {
            self.set_call_timer(id, CallTimer::SessionRefresh(side), BUSY_RETRY);
            return;
        }
        let Some(timer) = leg.session else {
            return;
        };
        let max_forwards = self.config.max_forwards();
        let hop = self.leg_hop(call, side);
        let leg = call.leg_mut(side);
        let mut update =
            leg.dialog
                .request(Method::UPDATE, None, &hop, max_forwards, &mut self.rng);
        write(&mut update.headers, &timer, true);
        leg.refresh_pending = true;
        let large_over = leg.large_over;
        let _ = self.send_fitting(Owner::Refresh(id, side), &mut update, hop, large_over);
    }

    /// A leg went too long without a refresh: the call ends on both legs.
    pub(crate) fn on_session_expiry(&mut self, call: &mut Call, side: Side) {
        let leg = match side {
            Side::A => "A",
            Side::B => "B",
        };
        self.tear_down(call, 408, format!("session timer expired on leg {leg}"));
    }

    /// The answer to TwoLeg's own refresh on a leg.
    pub(crate) fn on_refresh_response(&mut self, id: CallId, side: Side, parsed: &Parsed) {
        let Message::Response(response) = &parsed.message else {
            return;
        };
        let status = response.status;
        if status.is_provisional() {
            return;
        }
        self.with_call(id, |this, call| {
            call.leg_mut(side).refresh_pending = false;
            let code = status.code();
            if status.is_success() {
                let answer = said(&response.headers);
                call.leg_mut(side).session = from_answer(&answer);
                this.arm_session(call, side);
            } else if code == 422 {
                // Session Interval Too Small: again at once with the peer's minimum, when it
                // asks for more than the interval (else the session runs on to its expiry).
                let min = Duration::from_secs(said(&response.headers).min_se.unwrap_or(0));
                if let Some(timer) = call.leg_mut(side).session.as_mut()
                    && min > timer.interval
                {
                    timer.interval = min;
                    this.set_call_timer(id, CallTimer::SessionRefresh(side), Duration::ZERO);
                }
            } else if code == 405 || code == 501 {
                // The peer takes no UPDATE: TwoLeg cannot refresh this leg, so it holds the
                // leg to no session timer rather than end a call that is alive.
                call.leg_mut(side).session = None;
                this.arm_session(call, side);
            } else if code == StatusCode::REQUEST_PENDING.code() {
                // Glare (RFC 3261 §14.1): 2.1 to 4 s when TwoLeg owns the leg's Call-ID (leg
                // B), 0 to 2 s otherwise, in 10 ms steps.
                let steps = match side {
                    Side::B => this.rng.random_range(210..=400),
                    Side::A => this.rng.random_range(0..=200),
                };
                let wait = Duration::from_millis(steps * 10);
                this.set_call_timer(id, CallTimer::SessionRefresh(side), wait);
            } else if code == 408 || code == 481 {
                this.tear_down(call, code, format!("{code} to a session refresh"));
            }
            // Anything else: the session runs on to its expiry, which ends the call unless a
            // re-INVITE or UPDATE from either side refreshes it first.
        });
    }

    /// TwoLeg's refresh got no answer, or could not be sent: the leg is gone.
    pub(crate) fn on_refresh_lost(&mut self, id: CallId, side: Side) {
        self.with_call(id, |this, call| {
            call.leg_mut(side).refresh_pending = false;
            this.tear_down(call, 408, "no answer to a session refresh".to_owned());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&HeaderName, &str)]) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in lines {
            headers.push((*name).clone(), *value);
        }
        headers
    }

    const POLICY: SessionTimerPolicy = SessionTimerPolicy {
        interval: Duration::from_secs(1_800),
        min: Duration::from_secs(500),
    };

    #[test]
    fn a_caller_that_refreshes_keeps_its_interval_within_the_policy() {
        let asked = said(&headers(&[
            (&HeaderName::SESSION_EXPIRES, "900;refresher=uac"),
            (&HeaderName::SUPPORTED, "100rel, timer"),
        ]));
        assert_eq!(asked.expires, Some((900, Some(true))));
        let timer = for_caller(&asked, false, POLICY).unwrap().unwrap();
        assert_eq!(timer.interval, Duration::from_secs(900));
        assert_eq!(timer.refresher, Refresher::Peer);
        // Longer than TwoLeg's interval: lowered to it.
        let long = said(&headers(&[(&HeaderName::SESSION_EXPIRES, "7200")]));
        let timer = for_caller(&long, true, POLICY).unwrap().unwrap();
        assert_eq!(timer.interval, Duration::from_secs(1_800));
        assert_eq!(
            timer.refresher,
            Refresher::Twoleg,
            "no timer support: TwoLeg"
        );
    }

    #[test]
    fn too_small_is_refused_and_nobody_to_refresh_means_no_timer() {
        let small = said(&headers(&[(&HeaderName::SESSION_EXPIRES, "120")]));
        assert_eq!(for_caller(&small, true, POLICY), Err(500));
        let silent = Said::default();
        assert_eq!(for_caller(&silent, false, POLICY), Ok(None));
        let timer = for_caller(&silent, true, POLICY).unwrap().unwrap();
        assert_eq!(timer.refresher, Refresher::Twoleg);
    }

    #[test]
    fn a_2xx_names_the_refresher_and_without_session_expires_there_is_no_timer() {
        let uas = said(&headers(&[(
            &HeaderName::SESSION_EXPIRES,
            "1800;refresher=uas",
        )]));
        assert_eq!(from_answer(&uas).unwrap().refresher, Refresher::Peer);
        let uac = said(&headers(&[(
            &HeaderName::SESSION_EXPIRES,
            "1800;refresher=uac",
        )]));
        assert_eq!(from_answer(&uac).unwrap().refresher, Refresher::Twoleg);
        assert_eq!(from_answer(&Said::default()), None);
    }

    #[test]
    fn the_refresher_is_named_from_the_writers_side() {
        let timer = SessionTimer {
            interval: Duration::from_secs(1_800),
            refresher: Refresher::Twoleg,
            peer_supports: true,
        };
        let mut request = Headers::new();
        write(&mut request, &timer, true);
        assert_eq!(
            request.get(&HeaderName::SESSION_EXPIRES),
            Some("1800;refresher=uac")
        );
        let mut answer = Headers::new();
        write(&mut answer, &timer, false);
        assert_eq!(
            answer.get(&HeaderName::SESSION_EXPIRES),
            Some("1800;refresher=uas")
        );
        assert_eq!(answer.get(&HeaderName::REQUIRE), Some("timer"));
    }
}
