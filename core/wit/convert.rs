// Conversions between the engine's types (`twoleg_core`) and the WIT types of
// `core/wit/twoleg.wit`, both ways, field by field.
//
// Included (`include!`) by the guest (`runner/guest`, engine to WIT) and by the runner's host
// (`runner/src/host.rs`, WIT to engine), each of which names its generated bindings of the
// `types` interface `wit` before including this file: the generated types differ between the
// two sides, the conversions are the same text.

/// Converts a value of one side of the WIT boundary into the other side's type.
pub(crate) trait Convert<T> {
    /// The converted value.
    fn convert(self) -> T;
}

macro_rules! same {
    ($($t:ty),* $(,)?) => {
        $(impl Convert<$t> for $t {
            fn convert(self) -> $t {
                self
            }
        })*
    };
}

same!(String, u16, u32, u64, bool);

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<(B, B)> for [A; 2] {
    fn convert(self) -> (B, B) {
        let [first, second] = self;
        (first.convert(), second.convert())
    }
}

impl<A: Convert<B>, B> Convert<[B; 2]> for (A, A) {
    fn convert(self) -> [B; 2] {
        [self.0.convert(), self.1.convert()]
    }
}

impl Convert<u32> for usize {
    fn convert(self) -> u32 {
        u32::try_from(self).expect("indices of config tables fit in 32 bits")
    }
}

impl Convert<usize> for u32 {
    fn convert(self) -> usize {
        self as usize
    }
}

impl Convert<u64> for twoleg_core::Instant {
    fn convert(self) -> u64 {
        self.as_nanos()
    }
}

impl Convert<twoleg_core::Instant> for u64 {
    fn convert(self) -> twoleg_core::Instant {
        twoleg_core::Instant::from_nanos(self)
    }
}

impl Convert<u32> for twoleg_core::turn::EndpointId {
    fn convert(self) -> u32 {
        self.0.convert()
    }
}

impl Convert<twoleg_core::turn::EndpointId> for u32 {
    fn convert(self) -> twoleg_core::turn::EndpointId {
        twoleg_core::turn::EndpointId(self.convert())
    }
}

impl Convert<String> for twoleg_core::sip::Method {
    fn convert(self) -> String {
        self.as_str().to_owned()
    }
}

impl Convert<twoleg_core::sip::Method> for String {
    fn convert(self) -> twoleg_core::sip::Method {
        twoleg_core::sip::Method::from_token(&self)
    }
}

impl Convert<u16> for twoleg_core::sip::StatusCode {
    fn convert(self) -> u16 {
        self.code()
    }
}

impl Convert<twoleg_core::sip::StatusCode> for u16 {
    fn convert(self) -> twoleg_core::sip::StatusCode {
        twoleg_core::sip::StatusCode::new(self).unwrap_or(twoleg_core::sip::StatusCode::SERVER_INTERNAL_ERROR)
    }
}

impl Convert<String> for twoleg_core::sip::HeaderName {
    fn convert(self) -> String {
        self.as_str().to_owned()
    }
}

impl Convert<twoleg_core::sip::HeaderName> for String {
    fn convert(self) -> twoleg_core::sip::HeaderName {
        twoleg_core::sip::HeaderName::parse(&self)
    }
}

impl Convert<wit::IpAddress> for std::net::IpAddr {
    fn convert(self) -> wit::IpAddress {
        match self {
            std::net::IpAddr::V4(ip) => {
                let [a, b, c, d] = ip.octets();
                wit::IpAddress::Ipv4((a, b, c, d))
            }
            std::net::IpAddr::V6(ip) => {
                let [a, b, c, d, e, f, g, h] = ip.segments();
                wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h))
            }
        }
    }
}

impl Convert<std::net::IpAddr> for wit::IpAddress {
    fn convert(self) -> std::net::IpAddr {
        match self {
            wit::IpAddress::Ipv4((a, b, c, d)) => std::net::IpAddr::from([a, b, c, d]),
            wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
                std::net::IpAddr::from([a, b, c, d, e, f, g, h])
            }
        }
    }
}

impl Convert<wit::SocketAddress> for std::net::SocketAddr {
    fn convert(self) -> wit::SocketAddress {
        wit::SocketAddress {
            ip: self.ip().convert(),
            port: self.port(),
        }
    }
}

impl Convert<std::net::SocketAddr> for wit::SocketAddress {
    fn convert(self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip.convert(), self.port)
    }
}

/// Simple enums with the same variants on both sides, both ways.
macro_rules! enums {
    ($($core:path, $wit:path { $($variant:ident),* $(,)? };)*) => {
        $(
            impl Convert<$wit> for $core {
                fn convert(self) -> $wit {
                    use $core as C;
                    use $wit as W;
                    match self {
                        $(C::$variant => W::$variant,)*
                    }
                }
            }

            impl Convert<$core> for $wit {
                fn convert(self) -> $core {
                    use $core as C;
                    use $wit as W;
                    match self {
                        $(W::$variant => C::$variant,)*
                    }
                }
            }
        )*
    };
}

enums! {
    twoleg_core::config::MediaEncryptionMode, wit::MediaEncryptionMode {
        ForceEncrypted, ForceUnencrypted, BestEffort, Auto
    };
    twoleg_core::Transport, wit::Transport { Udp, Tcp, Tls };
    twoleg_core::status::Side, wit::Side { A, B };
    twoleg_core::status::LegState, wit::LegState { Trying, Early, Confirmed, Terminated };
    twoleg_core::status::Outcome, wit::Outcome {
        Completed, Rejected, Cancelled, TimedOut, Disconnected, Failed,
    };
    twoleg_core::status::EndedBy, wit::EndedBy { Caller, Callee, B2bua };
    twoleg_core::turn::Health, wit::Health { Up, Down };
    twoleg_core::dns::RecordKind, wit::RecordKind { Naptr, Srv, A, Aaaa };
}

/// A struct with the same fields on both sides, converted field by field both ways.
macro_rules! same_fields {
    ($($core:path, $wit:ident { $($field:ident),* $(,)? };)*) => {
        $(
            impl Convert<wit::$wit> for $core {
                fn convert(self) -> wit::$wit {
                    wit::$wit {
                        $($field: self.$field.convert(),)*
                    }
                }
            }

            impl Convert<$core> for wit::$wit {
                fn convert(self) -> $core {
                    $core {
                        $($field: self.$field.convert(),)*
                    }
                }
            }
        )*
    };
}

same_fields! {
    twoleg_core::status::LegStatus, LegStatus {
        side, serial, state, call_id, local_tag, remote_tag, source, destination, transport, peer,
        local, final_status,
    };
    twoleg_core::status::TurnError, TurnError { code, reason };
    twoleg_core::status::TurnAttempt, TurnAttempt { server, address, media, error };
    twoleg_core::status::CallStatus, CallStatus {
        tag, route, started_at, answered_at, turn, legs, media, attempts, admission,
    };
    twoleg_core::status::CallRecord, CallRecord {
        tag, route, started_at, answered_at, ended_at, final_status, outcome, ended_by, reason,
        turn, legs, media, attempts, admission,
    };
    twoleg_core::status::Admission, Admission { zone, authentication };
    twoleg_core::status::DestinationAttempt, DestinationAttempt { address, failed };
    twoleg_core::status::DestinationStatus, DestinationStatus {
        route, address, priority, weight, health, pings_sent, missed_pings, calls,
    };
    twoleg_core::status::SourceStatus, SourceStatus {
        address, blocked, blocked_for_ms, blocks, requests_refused,
    };
    twoleg_core::status::MediaStatus, MediaStatus { component, zones, streams };
    twoleg_core::status::ZoneStatus, ZoneStatus { name, mode };
    twoleg_core::status::StreamStatus, StreamStatus { index, legs };
    twoleg_core::status::StreamLegStatus, StreamLegStatus { local, remote, suite, counters };
    twoleg_core::media::MediaCounters, MediaCounters {
        packets_received, bytes_received, packets_sent, bytes_sent, lost, auth_failures, replays,
    };
    twoleg_core::media::MediaReport, MediaReport { tag, side, stream, counters };
    twoleg_core::media::MediaStream, MediaStream {
        tag, side, stream, local_rtp, remote_rtp, remote_rtcp, peer_stream, srtp,
    };
    twoleg_core::media::SrtpKeys, SrtpKeys { send, receive };
    twoleg_core::dns::DnsQuery, DnsQuery { id, name, kind };
    twoleg_core::dns::DnsRecord, DnsRecord { ttl_s, data };
    twoleg_core::dns::DnsAnswer, DnsAnswer { id, records, negative_ttl_s, failed };
    twoleg_core::Counters, Counters {
        datagrams_in, datagrams_out, retransmissions, parse_errors, calls_started,
        turn_relays_granted, turn_failures, turn_allocations_open, turn_probes_sent,
        turn_probes_answered,
    };
}

impl Convert<wit::RecordData> for twoleg_core::dns::RecordData {
    fn convert(self) -> wit::RecordData {
        use twoleg_core::dns::RecordData as C;
        match self {
            C::Naptr {
                order,
                preference,
                flags,
                service,
                replacement,
            } => wit::RecordData::Naptr(wit::NaptrRecord {
                order,
                preference,
                flags,
                service,
                replacement,
            }),
            C::Srv {
                priority,
                weight,
                port,
                target,
            } => wit::RecordData::Srv(wit::SrvRecord {
                priority,
                weight,
                port,
                target,
            }),
            C::Address(ip) => wit::RecordData::Address(ip.convert()),
        }
    }
}

impl Convert<twoleg_core::dns::RecordData> for wit::RecordData {
    fn convert(self) -> twoleg_core::dns::RecordData {
        use twoleg_core::dns::RecordData as C;
        match self {
            wit::RecordData::Naptr(r) => C::Naptr {
                order: r.order,
                preference: r.preference,
                flags: r.flags,
                service: r.service,
                replacement: r.replacement,
            },
            wit::RecordData::Srv(r) => C::Srv {
                priority: r.priority,
                weight: r.weight,
                port: r.port,
                target: r.target,
            },
            wit::RecordData::Address(ip) => C::Address(ip.convert()),
        }
    }
}

impl Convert<wit::RelayState> for twoleg_core::status::RelayState {
    fn convert(self) -> wit::RelayState {
        use twoleg_core::status::RelayState as C;
        match self {
            C::Allocating => wit::RelayState::Allocating,
            C::Allocated { rtp, rtcp, mapped } => wit::RelayState::Allocated(wit::Relays {
                rtp: rtp.convert(),
                rtcp: rtcp.convert(),
                mapped: mapped.convert(),
            }),
            C::Failed(error) => wit::RelayState::Failed(error.convert()),
        }
    }
}

impl Convert<twoleg_core::status::RelayState> for wit::RelayState {
    fn convert(self) -> twoleg_core::status::RelayState {
        use twoleg_core::status::RelayState as C;
        match self {
            wit::RelayState::Allocating => C::Allocating,
            wit::RelayState::Allocated(relays) => C::Allocated {
                rtp: relays.rtp.convert(),
                rtcp: relays.rtcp.convert(),
                mapped: relays.mapped.convert(),
            },
            wit::RelayState::Failed(error) => C::Failed(error.convert()),
        }
    }
}

impl Convert<wit::CallerAuthentication> for twoleg_core::status::CallerAuthentication {
    fn convert(self) -> wit::CallerAuthentication {
        use twoleg_core::status::CallerAuthentication as C;
        match self {
            C::Checked { username } => wit::CallerAuthentication::Checked(username),
            C::TreatedAsAuthenticated => wit::CallerAuthentication::TreatedAsAuthenticated,
            C::NotChecked => wit::CallerAuthentication::NotChecked,
        }
    }
}

impl Convert<twoleg_core::status::CallerAuthentication> for wit::CallerAuthentication {
    fn convert(self) -> twoleg_core::status::CallerAuthentication {
        use twoleg_core::status::CallerAuthentication as C;
        match self {
            wit::CallerAuthentication::Checked(username) => C::Checked { username },
            wit::CallerAuthentication::TreatedAsAuthenticated => C::TreatedAsAuthenticated,
            wit::CallerAuthentication::NotChecked => C::NotChecked,
        }
    }
}

impl Convert<wit::TurnDecision> for twoleg_core::status::TurnDecision {
    fn convert(self) -> wit::TurnDecision {
        use twoleg_core::status::TurnDecision as C;
        match self {
            C::NotApplicable => wit::TurnDecision::NotApplicable,
            C::Offered {
                leg,
                server,
                address,
                description,
                media,
                relay,
                redirected_to,
                failed_over,
            } => wit::TurnDecision::Offered(wit::TurnOffer {
                leg: leg.convert(),
                server: server.convert(),
                address: address.convert(),
                description,
                media: media.convert(),
                relay: relay.convert(),
                redirected_to: redirected_to.convert(),
                failed_over: failed_over.convert(),
            }),
            C::NotOffered { leg, reason } => {
                wit::TurnDecision::NotOffered(wit::TurnNotOffered {
                    leg: leg.convert(),
                    reason,
                })
            }
        }
    }
}

impl Convert<twoleg_core::status::TurnDecision> for wit::TurnDecision {
    fn convert(self) -> twoleg_core::status::TurnDecision {
        use twoleg_core::status::TurnDecision as C;
        match self {
            wit::TurnDecision::NotApplicable => C::NotApplicable,
            wit::TurnDecision::Offered(offer) => C::Offered {
                leg: offer.leg.convert(),
                server: offer.server.convert(),
                address: offer.address.convert(),
                description: offer.description,
                media: offer.media.convert(),
                relay: offer.relay.convert(),
                redirected_to: offer.redirected_to.convert(),
                failed_over: offer.failed_over.convert(),
            },
            wit::TurnDecision::NotOffered(not) => C::NotOffered {
                leg: not.leg.convert(),
                reason: not.reason,
            },
        }
    }
}

impl Convert<wit::ParseError> for twoleg_core::sip::ParseError {
    fn convert(self) -> wit::ParseError {
        use twoleg_core::sip::ParseError as C;
        use wit::ParseError as W;
        match self {
            C::TooLarge { size, limit } => W::TooLarge(wit::SizeOverLimit {
                size: size as u64,
                limit: limit as u64,
            }),
            C::Empty => W::Empty,
            C::NotUtf8 => W::NotUtf8,
            C::Unterminated => W::Unterminated,
            C::BadStartLine => W::BadStartLine,
            C::UnsupportedVersion(version) => W::UnsupportedVersion(version),
            C::BadStatusCode => W::BadStatusCode,
            C::BadRequestUri => W::BadRequestUri,
            C::BadHeaderLine => W::BadHeaderLine,
            C::BadHeader(name) => W::BadHeader(name.convert()),
            C::MissingHeader(name) => W::MissingHeader(name.convert()),
            C::RepeatedHeader(name) => W::RepeatedHeader(name.convert()),
            C::CSeqMethodMismatch => W::CseqMethodMismatch,
            C::BodyTooShort { declared, present } => W::BodyTooShort(wit::ShortBody {
                declared: declared as u64,
                present: present as u64,
            }),
            other => unreachable!("a parse error the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::sip::ParseError> for wit::ParseError {
    fn convert(self) -> twoleg_core::sip::ParseError {
        use twoleg_core::sip::ParseError as C;
        use wit::ParseError as W;
        match self {
            W::TooLarge(over) => C::TooLarge {
                size: over.size as usize,
                limit: over.limit as usize,
            },
            W::Empty => C::Empty,
            W::NotUtf8 => C::NotUtf8,
            W::Unterminated => C::Unterminated,
            W::BadStartLine => C::BadStartLine,
            W::UnsupportedVersion(version) => C::UnsupportedVersion(version),
            W::BadStatusCode => C::BadStatusCode,
            W::BadRequestUri => C::BadRequestUri,
            W::BadHeaderLine => C::BadHeaderLine,
            W::BadHeader(name) => C::BadHeader(name.convert()),
            W::MissingHeader(name) => C::MissingHeader(name.convert()),
            W::RepeatedHeader(name) => C::RepeatedHeader(name.convert()),
            W::CseqMethodMismatch => C::CSeqMethodMismatch,
            W::BodyTooShort(short) => C::BodyTooShort {
                declared: short.declared as usize,
                present: short.present as usize,
            },
        }
    }
}

impl Convert<wit::FramingError> for twoleg_core::sip::FramingError {
    fn convert(self) -> wit::FramingError {
        use twoleg_core::sip::FramingError as C;
        use wit::FramingError as W;
        match self {
            C::MissingContentLength => W::MissingContentLength,
            C::BadContentLength => W::BadContentLength,
            C::TooLarge { size, limit } => W::TooLarge(wit::SizeOverLimit {
                size: size as u64,
                limit: limit as u64,
            }),
            other => unreachable!("a framing error the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::sip::FramingError> for wit::FramingError {
    fn convert(self) -> twoleg_core::sip::FramingError {
        use twoleg_core::sip::FramingError as C;
        use wit::FramingError as W;
        match self {
            W::MissingContentLength => C::MissingContentLength,
            W::BadContentLength => C::BadContentLength,
            W::TooLarge(over) => C::TooLarge {
                size: over.size as usize,
                limit: over.limit as usize,
            },
        }
    }
}

impl Convert<wit::AuthFailure> for twoleg_core::auth::AuthFailure {
    fn convert(self) -> wit::AuthFailure {
        use twoleg_core::auth::AuthFailure as C;
        use wit::AuthFailure as W;
        match self {
            C::NoCredentials => W::NoCredentials,
            C::Malformed => W::Malformed,
            C::UnknownUser => W::UnknownUser,
            C::WrongResponse => W::WrongResponse,
            C::UnknownNonce => W::UnknownNonce,
            C::StaleNonce => W::StaleNonce,
            C::Replayed => W::Replayed,
        }
    }
}

impl Convert<twoleg_core::auth::AuthFailure> for wit::AuthFailure {
    fn convert(self) -> twoleg_core::auth::AuthFailure {
        use twoleg_core::auth::AuthFailure as C;
        use wit::AuthFailure as W;
        match self {
            W::NoCredentials => C::NoCredentials,
            W::Malformed => C::Malformed,
            W::UnknownUser => C::UnknownUser,
            W::WrongResponse => C::WrongResponse,
            W::UnknownNonce => C::UnknownNonce,
            W::StaleNonce => C::StaleNonce,
            W::Replayed => C::Replayed,
        }
    }
}

impl Convert<wit::PolicyViolation> for twoleg_core::media::PolicyViolation {
    fn convert(self) -> wit::PolicyViolation {
        use twoleg_core::media::PolicyViolation as C;
        use wit::PolicyViolation as W;
        match self {
            C::EncryptionRequired => W::EncryptionRequired,
            C::EncryptionForbidden => W::EncryptionForbidden,
            C::NoCommonSuite => W::NoCommonSuite,
            C::EncryptionLevelsIncompatible => W::EncryptionLevelsIncompatible,
            C::NoMedia => W::NoMedia,
            C::AnswerWithoutCrypto => W::AnswerWithoutCrypto,
            C::AnswerCryptoMismatch => W::AnswerCryptoMismatch,
            C::AnswerMismatch => W::AnswerMismatch,
            C::AnswerWithoutOffer => W::AnswerWithoutOffer,
            C::UnreadableSdp => W::UnreadableSdp,
            C::NoMediaPorts => W::NoMediaPorts,
            other => unreachable!("a policy violation the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::media::PolicyViolation> for wit::PolicyViolation {
    fn convert(self) -> twoleg_core::media::PolicyViolation {
        use twoleg_core::media::PolicyViolation as C;
        use wit::PolicyViolation as W;
        match self {
            W::EncryptionRequired => C::EncryptionRequired,
            W::EncryptionForbidden => C::EncryptionForbidden,
            W::NoCommonSuite => C::NoCommonSuite,
            W::EncryptionLevelsIncompatible => C::EncryptionLevelsIncompatible,
            W::NoMedia => C::NoMedia,
            W::AnswerWithoutCrypto => C::AnswerWithoutCrypto,
            W::AnswerCryptoMismatch => C::AnswerCryptoMismatch,
            W::AnswerMismatch => C::AnswerMismatch,
            W::AnswerWithoutOffer => C::AnswerWithoutOffer,
            W::UnreadableSdp => C::UnreadableSdp,
            W::NoMediaPorts => C::NoMediaPorts,
        }
    }
}

impl Convert<wit::SrtpSuite> for twoleg_core::srtp::Suite {
    fn convert(self) -> wit::SrtpSuite {
        match self {
            Self::AesCm128HmacSha1_80 => wit::SrtpSuite::AesCm128HmacSha180,
            Self::AesCm128HmacSha1_32 => wit::SrtpSuite::AesCm128HmacSha132,
            Self::AeadAes128Gcm => wit::SrtpSuite::AeadAes128Gcm,
        }
    }
}

impl Convert<twoleg_core::srtp::Suite> for wit::SrtpSuite {
    fn convert(self) -> twoleg_core::srtp::Suite {
        use twoleg_core::srtp::Suite;
        match self {
            Self::AesCm128HmacSha180 => Suite::AesCm128HmacSha1_80,
            Self::AesCm128HmacSha132 => Suite::AesCm128HmacSha1_32,
            Self::AeadAes128Gcm => Suite::AeadAes128Gcm,
        }
    }
}

impl Convert<wit::SrtpKey> for twoleg_core::srtp::MasterKey {
    fn convert(self) -> wit::SrtpKey {
        wit::SrtpKey {
            suite: self.suite().convert(),
            material: self.material().to_vec(),
            mki: self.mki().map(<[u8]>::to_vec),
        }
    }
}

impl Convert<twoleg_core::srtp::MasterKey> for wit::SrtpKey {
    fn convert(self) -> twoleg_core::srtp::MasterKey {
        twoleg_core::srtp::MasterKey::new(self.suite.convert(), self.material, self.mki)
            .expect("the engine writes keys of their suite's length")
    }
}

impl Convert<wit::Refusal> for twoleg_core::Refusal {
    fn convert(self) -> wit::Refusal {
        use twoleg_core::Refusal as C;
        use wit::Refusal as W;
        match self {
            C::Malformed(error) => W::Malformed(error.convert()),
            C::Framing(error) => W::Framing(error.convert()),
            C::MethodNotAllowed => W::MethodNotAllowed,
            C::UnsupportedUriScheme => W::UnsupportedUriScheme,
            C::TooManyHops => W::TooManyHops,
            C::MergedRequest => W::MergedRequest,
            C::BadExtension(options) => W::BadExtension(options),
            C::ShuttingDown => W::ShuttingDown,
            C::UnsupportedMediaType => W::UnsupportedMediaType,
            C::NoRoute => W::NoRoute,
            C::NoSuchDialog => W::NoSuchDialog,
            C::MediaPolicy(violation) => W::MediaPolicy(violation.convert()),
            C::EncryptionB2buaBusy => W::EncryptionB2buaBusy,
            C::SessionIntervalTooSmall => W::SessionIntervalTooSmall,
            C::Loop => W::Loop,
            C::RouteBusy => W::RouteBusy,
            C::NoDestination => W::NoDestination,
            C::ListenerBusy => W::ListenerBusy,
            C::Forbidden => W::Forbidden,
            C::Unauthenticated(failure) => W::Unauthenticated(failure.convert()),
            C::Flooding => W::Flooding,
            other => unreachable!("a refusal the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::Refusal> for wit::Refusal {
    fn convert(self) -> twoleg_core::Refusal {
        use twoleg_core::Refusal as C;
        use wit::Refusal as W;
        match self {
            W::Malformed(error) => C::Malformed(error.convert()),
            W::Framing(error) => C::Framing(error.convert()),
            W::MethodNotAllowed => C::MethodNotAllowed,
            W::UnsupportedUriScheme => C::UnsupportedUriScheme,
            W::TooManyHops => C::TooManyHops,
            W::MergedRequest => C::MergedRequest,
            W::BadExtension(options) => C::BadExtension(options),
            W::ShuttingDown => C::ShuttingDown,
            W::UnsupportedMediaType => C::UnsupportedMediaType,
            W::NoRoute => C::NoRoute,
            W::NoSuchDialog => C::NoSuchDialog,
            W::MediaPolicy(violation) => C::MediaPolicy(violation.convert()),
            W::EncryptionB2buaBusy => C::EncryptionB2buaBusy,
            W::SessionIntervalTooSmall => C::SessionIntervalTooSmall,
            W::Loop => C::Loop,
            W::RouteBusy => C::RouteBusy,
            W::NoDestination => C::NoDestination,
            W::ListenerBusy => C::ListenerBusy,
            W::Forbidden => C::Forbidden,
            W::Unauthenticated(failure) => C::Unauthenticated(failure.convert()),
            W::Flooding => C::Flooding,
        }
    }
}

impl Convert<wit::DropReason> for twoleg_core::DropReason {
    fn convert(self) -> wit::DropReason {
        use twoleg_core::DropReason as C;
        use wit::DropReason as W;
        match self {
            C::Malformed(error) => W::Malformed(error.convert()),
            C::StrayResponse { status, cseq } => W::StrayResponse(wit::StrayResponse {
                status: status.convert(),
                cseq,
            }),
            C::StrayAck => W::StrayAck,
            C::UnknownListener(address) => W::UnknownListener(address.convert()),
            C::StrayStun => W::StrayStun,
            C::Framing(error) => W::Framing(error.convert()),
            C::NoConnection => W::NoConnection,
            C::ZoneDropsCalls => W::ZoneDropsCalls,
            C::Flooding => W::Flooding,
            other => unreachable!("a drop reason the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::DropReason> for wit::DropReason {
    fn convert(self) -> twoleg_core::DropReason {
        use twoleg_core::DropReason as C;
        use wit::DropReason as W;
        match self {
            W::Malformed(error) => C::Malformed(error.convert()),
            W::StrayResponse(stray) => C::StrayResponse {
                status: stray.status.convert(),
                cseq: stray.cseq,
            },
            W::StrayAck => C::StrayAck,
            W::UnknownListener(address) => C::UnknownListener(address.convert()),
            W::StrayStun => C::StrayStun,
            W::Framing(error) => C::Framing(error.convert()),
            W::NoConnection => C::NoConnection,
            W::ZoneDropsCalls => C::ZoneDropsCalls,
            W::Flooding => C::Flooding,
        }
    }
}

impl Convert<wit::Event> for twoleg_core::Event {
    fn convert(self) -> wit::Event {
        use twoleg_core::Event as C;
        use wit::Event as W;
        match self {
            C::CallStarted(call) => W::CallStarted((*call).convert()),
            C::LegState { tag, side, state } => W::LegState(wit::LegChange {
                tag,
                side: side.convert(),
                state: state.convert(),
            }),
            C::CallEnded(record) => W::CallEnded((*record).convert()),
            C::TurnUpdated { tag, turn } => W::TurnUpdated(wit::TurnUpdate {
                tag,
                turn: turn.convert(),
            }),
            C::MediaPortsOpened { rtp } => W::MediaPortsOpened(rtp.convert()),
            C::MediaPortsFreed { rtp } => W::MediaPortsFreed(rtp.convert()),
            C::MediaStream(stream) => W::MediaStream((*stream).convert()),
            C::MediaStreamClosed {
                tag,
                side,
                stream,
                local_rtp,
            } => W::MediaStreamClosed(wit::MediaStreamClosed {
                tag,
                side: side.convert(),
                stream,
                local_rtp: local_rtp.convert(),
            }),
            C::CloseConnection { connection, reason } => {
                W::CloseConnection(wit::CloseConnection {
                    connection: connection.0,
                    reason: reason.convert(),
                })
            }
            C::TurnHealth {
                endpoint,
                address,
                health,
            } => W::TurnHealth(wit::TurnHealthChange {
                endpoint: endpoint.convert(),
                address: address.convert(),
                health: health.convert(),
            }),
            C::Resolve(query) => W::Resolve(query.convert()),
            C::DestinationHealth {
                route,
                destination,
                health,
            } => W::DestinationHealth(wit::DestinationHealthChange {
                route,
                destination,
                health: health.convert(),
            }),
            C::Refused {
                source,
                method,
                status,
                reason,
            } => W::Refused(wit::Refused {
                source: source.convert(),
                method: method.convert(),
                status: status.convert(),
                reason: reason.convert(),
            }),
            C::Dropped { source, reason } => W::Dropped(wit::Dropped {
                source: source.convert(),
                reason: reason.convert(),
            }),
            C::Retransmitted {
                destination,
                start_line,
            } => W::Retransmitted(wit::Retransmitted {
                destination: destination.convert(),
                start_line,
            }),
            other => unreachable!("an event the WIT does not name yet: {other:?}"),
        }
    }
}

impl Convert<twoleg_core::Event> for wit::Event {
    fn convert(self) -> twoleg_core::Event {
        use twoleg_core::Event as C;
        use wit::Event as W;
        match self {
            W::CallStarted(call) => C::CallStarted(Box::new(call.convert())),
            W::LegState(change) => C::LegState {
                tag: change.tag,
                side: change.side.convert(),
                state: change.state.convert(),
            },
            W::CallEnded(record) => C::CallEnded(Box::new(record.convert())),
            W::TurnUpdated(update) => C::TurnUpdated {
                tag: update.tag,
                turn: update.turn.convert(),
            },
            W::MediaPortsOpened(rtp) => C::MediaPortsOpened { rtp: rtp.convert() },
            W::MediaPortsFreed(rtp) => C::MediaPortsFreed { rtp: rtp.convert() },
            W::MediaStream(stream) => C::MediaStream(Box::new(stream.convert())),
            W::MediaStreamClosed(closed) => C::MediaStreamClosed {
                tag: closed.tag,
                side: closed.side.convert(),
                stream: closed.stream,
                local_rtp: closed.local_rtp.convert(),
            },
            W::CloseConnection(close) => C::CloseConnection {
                connection: twoleg_core::ConnectionId(close.connection),
                reason: close.reason.convert(),
            },
            W::TurnHealth(change) => C::TurnHealth {
                endpoint: change.endpoint.convert(),
                address: change.address.convert(),
                health: change.health.convert(),
            },
            W::Resolve(query) => C::Resolve(query.convert()),
            W::DestinationHealth(change) => C::DestinationHealth {
                route: change.route,
                destination: change.destination,
                health: change.health.convert(),
            },
            W::Refused(refused) => C::Refused {
                source: refused.source.convert(),
                method: refused.method.convert(),
                status: refused.status.convert(),
                reason: refused.reason.convert(),
            },
            W::Dropped(dropped) => C::Dropped {
                source: dropped.source.convert(),
                reason: dropped.reason.convert(),
            },
            W::Retransmitted(retransmitted) => C::Retransmitted {
                destination: retransmitted.destination.convert(),
                start_line: retransmitted.start_line,
            },
        }
    }
}

impl Convert<wit::EngineError> for twoleg_core::Error {
    fn convert(self) -> wit::EngineError {
        match self {
            twoleg_core::Error::TimeWentBackwards { now, last } => {
                wit::EngineError::TimeWentBackwards(wit::TimeWentBackwards {
                    now: now.convert(),
                    last: last.convert(),
                })
            }
            twoleg_core::Error::UnknownCall(tag) => wit::EngineError::UnknownCall(tag),
            other => unreachable!("an engine error the WIT does not name yet: {other}"),
        }
    }
}

impl Convert<twoleg_core::Error> for wit::EngineError {
    fn convert(self) -> twoleg_core::Error {
        match self {
            wit::EngineError::TimeWentBackwards(times) => twoleg_core::Error::TimeWentBackwards {
                now: times.now.convert(),
                last: times.last.convert(),
            },
            wit::EngineError::UnknownCall(tag) => twoleg_core::Error::UnknownCall(tag),
        }
    }
}

impl Convert<wit::Packet> for twoleg_core::Transmit {
    fn convert(self) -> wit::Packet {
        wit::Packet {
            transport: self.transport.convert(),
            connection: self.connection.map(|c| c.0),
            source: self.source.convert(),
            destination: self.destination.convert(),
            server_name: self.server_name,
            contents: self.contents,
        }
    }
}

impl Convert<twoleg_core::Transmit> for wit::Packet {
    fn convert(self) -> twoleg_core::Transmit {
        twoleg_core::Transmit {
            transport: self.transport.convert(),
            connection: self.connection.map(twoleg_core::ConnectionId),
            source: self.source.convert(),
            destination: self.destination.convert(),
            server_name: self.server_name,
            contents: self.contents,
        }
    }
}

impl Convert<wit::Output> for twoleg_core::Output {
    fn convert(self) -> wit::Output {
        match self {
            twoleg_core::Output::Transmit(transmit) => wit::Output::Transmit(transmit.convert()),
            twoleg_core::Output::Event(event) => wit::Output::Event(event.convert()),
            twoleg_core::Output::Timeout(at) => wit::Output::Timeout(at.convert()),
        }
    }
}

impl Convert<twoleg_core::Output> for wit::Output {
    fn convert(self) -> twoleg_core::Output {
        match self {
            wit::Output::Transmit(packet) => twoleg_core::Output::Transmit(packet.convert()),
            wit::Output::Event(event) => twoleg_core::Output::Event(event.convert()),
            wit::Output::Timeout(at) => twoleg_core::Output::Timeout(at.convert()),
        }
    }
}

impl Convert<wit::Problem> for &twoleg_core::config::Problem {
    fn convert(self) -> wit::Problem {
        wit::Problem {
            path: self.path.to_string(),
            message: self.message.clone(),
        }
    }
}
