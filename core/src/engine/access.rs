//! Who may use TwoLeg: flood protection per source (before a request gets a transaction), and
//! the caller's zone: calls taken, refused with 403, or dropped; for a zone whose policy is
//! Check credentials, the digest round (407 Proxy-Authenticate) before any call is made. A
//! refused or challenged INVITE makes no leg B and no TURN allocation; the `Refused` or
//! `Dropped` event says why. Credentials never reach an event, history or the other leg.

use std::net::SocketAddr;
use std::time::Duration;

use rand::{Rng, RngCore};

use super::B2bua;
use crate::auth::{AuthFailure, DigestCredentials, NonceState, challenge, constant_time_eq};
use crate::config::{AuthenticationPolicy, CallAcceptance, FloodAction};
use crate::event::{DropReason, Event, Refusal};
use crate::hop::Hop;
use crate::ids;
use crate::sip::{HeaderName, Message, Method, Parsed, ReplyTo, StatusCode};
use crate::status::{Admission, CallerAuthentication, SourceStatus};
use crate::transaction::TxId;

/// What flood protection and the zone say of a request before it gets a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Screening {
    /// On with it.
    Pass,
    /// Its source is blocked for this much longer: answer 503 with Retry-After.
    Flooding(Duration),
    /// Dropped (the event is out).
    Dropped,
}

impl B2bua {
    /// Flood protection, and zones that drop calls: what happens to a new request (not an ACK,
    /// not a retransmission) from `source`.
    pub(crate) fn screen(&mut self, parsed: &Parsed, source: SocketAddr) -> Screening {
        if let Some(plan) = self.config.flood_protection()
            && let Some(blocked_for) = self.sources.note(source.ip(), self.now, plan)
        {
            if plan.action == FloodAction::Drop {
                self.emit(Event::Dropped {
                    source,
                    reason: DropReason::Flooding,
                });
                return Screening::Dropped;
            }
            return Screening::Flooding(blocked_for);
        }
        let new_invite = matches!(&parsed.message, Message::Request(r) if r.method == Method::INVITE)
            && parsed.to.tag().is_none();
        if new_invite && self.config.zones().access_of(source.ip()).calls == CallAcceptance::Drop {
            self.emit(Event::Dropped {
                source,
                reason: DropReason::ZoneDropsCalls,
            });
            return Screening::Dropped;
        }
        Screening::Pass
    }

    /// A request from a blocked source: one 503 with the rest of the block as Retry-After,
    /// sent statelessly (no transaction, no retransmissions: a flood, perhaps from a spoofed
    /// address, costs one small datagram each and no state).
    pub(crate) fn refuse_flooding(
        &mut self,
        arrival: &Hop,
        parsed: &Parsed,
        source: SocketAddr,
        method: &Method,
        blocked_for: Duration,
    ) {
        let reply = ReplyTo::new(parsed, source);
        let tag = ids::tag(&mut self.rng);
        let mut response = reply.response(StatusCode::SERVICE_UNAVAILABLE, "Flooding", Some(&tag));
        let seconds = blocked_for.as_secs() + u64::from(blocked_for.subsec_nanos() > 0);
        response
            .headers
            .push(HeaderName::RETRY_AFTER, seconds.max(1).to_string());
        self.transmit(&arrival.answering(reply.address), response.to_bytes());
        self.emit(Event::Refused {
            source,
            method: method.clone(),
            status: response.status,
            reason: Refusal::Flooding,
        });
    }

    /// A new INVITE's zone and credentials: how the caller is let in, or `None` when it is not
    /// (the INVITE was answered: 403, or 407 with a new challenge).
    pub(crate) fn admit_caller(
        &mut self,
        tx: TxId,
        reply: &ReplyTo,
        parsed: &Parsed,
        source: SocketAddr,
    ) -> Option<Admission> {
        let access = self.config.zones().access_of(source.ip());
        let (zone, calls, policy) = (access.zone.to_owned(), access.calls, access.authentication);
        if calls != CallAcceptance::Accept {
            let tag = ids::tag(&mut self.rng);
            let response = reply.response(StatusCode::FORBIDDEN, "Forbidden", Some(&tag));
            self.refuse(tx, &response, source, &Method::INVITE, Refusal::Forbidden);
            return None;
        }
        let authentication = match policy {
            AuthenticationPolicy::DoNotCheckCredentials => CallerAuthentication::NotChecked,
            AuthenticationPolicy::TreatAsAuthenticated => {
                CallerAuthentication::TreatedAsAuthenticated
            }
            AuthenticationPolicy::CheckCredentials => match self.check_credentials(parsed) {
                Ok(username) => CallerAuthentication::Checked { username },
                Err(failure) => {
                    self.demand_credentials(tx, reply, source, failure);
                    return None;
                }
            },
        };
        Some(Admission {
            zone,
            authentication,
        })
    }

    /// Answers a new INVITE whose credentials failed `failure` with 407 and a fresh challenge,
    /// one per configured algorithm.
    fn demand_credentials(
        &mut self,
        tx: TxId,
        reply: &ReplyTo,
        source: SocketAddr,
        failure: AuthFailure,
    ) {
        let auth = self.config.authentication();
        let (realm, algorithms) = (auth.realm.clone(), auth.algorithms.clone());
        let salt = self.rng.random::<u64>();
        let key_rng = &mut self.key_rng;
        let nonce = self.nonces.issue(self.now, salt, || {
            let mut secret = [0u8; 32];
            key_rng.fill_bytes(&mut secret);
            secret
        });
        let tag = ids::tag(&mut self.rng);
        let status = StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        let mut response = reply.response(status, status.reason(), Some(&tag));
        for algorithm in algorithms {
            response.headers.push(
                HeaderName::PROXY_AUTHENTICATE,
                challenge(
                    &realm,
                    &nonce,
                    algorithm,
                    matches!(failure, AuthFailure::StaleNonce | AuthFailure::UnknownNonce),
                ),
            );
        }
        self.refuse(
            tx,
            &response,
            source,
            &Method::INVITE,
            Refusal::Unauthenticated(failure),
        );
    }

    /// The INVITE's `Proxy-Authorization` for TwoLeg's realm, checked: the user, the response
    /// (in constant time), the nonce's life and count. An accepted count is used up. Gives the
    /// authenticated user's name.
    fn check_credentials(&mut self, parsed: &Parsed) -> Result<String, AuthFailure> {
        let Message::Request(request) = &parsed.message else {
            return Err(AuthFailure::Malformed);
        };
        let auth = self.config.authentication();
        let mut failure = AuthFailure::NoCredentials;
        let mut ours = None;
        for value in request.headers.get_all(&HeaderName::PROXY_AUTHORIZATION) {
            match DigestCredentials::parse(value) {
                Ok(credentials) if credentials.realm == auth.realm => {
                    ours = Some(credentials);
                    break;
                }
                Ok(_) => {}
                Err(malformed) => failure = malformed,
            }
        }
        let credentials = ours.ok_or(failure)?;
        if !auth.algorithms.contains(&credentials.algorithm) || credentials.uri != request.uri {
            return Err(AuthFailure::Malformed);
        }
        let Some(password) = auth.credentials.get(&credentials.username) else {
            return Err(AuthFailure::UnknownUser);
        };
        let expected = crate::auth::response(&credentials, password.expose(), "INVITE");
        if !constant_time_eq(expected.as_bytes(), credentials.response.as_bytes()) {
            return Err(AuthFailure::WrongResponse);
        }
        let count = credentials.nc.1;
        match self
            .nonces
            .state(&credentials.nonce, count, self.now, auth.nonce_lifetime)
        {
            NonceState::Fresh => {
                self.nonces
                    .accept(&credentials.nonce, count, self.now, auth.nonce_lifetime);
                Ok(credentials.username)
            }
            NonceState::Replayed => Err(AuthFailure::Replayed),
            NonceState::Stale => Err(AuthFailure::StaleNonce),
            // The password is right, the nonce not TwoLeg's (a restart, a fresh engine
            // instance): a new challenge with stale=true, so that the client answers it
            // without asking its user again.
            NonceState::Unknown => Err(AuthFailure::UnknownNonce),
        }
    }

    /// Sources flood protection refused requests from, with their counts.
    pub fn flood_sources(&self) -> Vec<SourceStatus> {
        self.sources.status(self.now)
    }
}
