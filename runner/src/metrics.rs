//! Counters the admin API exports in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;

/// TCP and TLS connections, for metrics.
pub(crate) struct ConnectionCounts {
    pub(crate) open: usize,
    pub(crate) opened: u64,
    pub(crate) refused: u64,
    pub(crate) handshake_failures: u64,
}

/// What the runner counts (from the datagrams it moves and the events the engine reports, so
/// the counts survive a trapped engine instance).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) datagrams_in: u64,
    pub(crate) datagrams_out: u64,
    pub(crate) retransmissions: u64,
    pub(crate) parse_errors: u64,
    pub(crate) guest_traps: u64,
    pub(crate) framing_errors: u64,
    /// ICMP errors that quoted no request TwoLeg sent there, to its branch (forged, about a
    /// response, or quoting too little).
    pub(crate) icmp_errors_ignored: u64,
    ended_by_status: BTreeMap<u16, u64>,
    /// Requests access control turned away (refused or dropped), by why.
    access_refused: BTreeMap<&'static str, u64>,
}

/// What is up and how deep the input queue is, for the gauges.
pub(crate) struct Health<'a> {
    /// Each TURN address/port combination and whether it may be chosen.
    pub(crate) turn_up: &'a [(std::net::SocketAddr, bool)],
    /// Each route destination (route, destination) and whether it takes calls.
    pub(crate) destinations_up: &'a [(String, String, bool)],
    /// Datagrams waiting for the engine.
    pub(crate) queue_depth: usize,
    /// New INVITEs shed at the door.
    pub(crate) shed: u64,
}

impl Metrics {
    pub(crate) fn count_ended(&mut self, final_status: u16) {
        *self.ended_by_status.entry(final_status).or_default() += 1;
    }

    /// A request turned away by access control: `forbidden` (zone refuses), `zone_drop`,
    /// `unauthenticated` (407), `flooding`.
    pub(crate) fn count_access_refused(&mut self, reason: &'static str) {
        *self.access_refused.entry(reason).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(
        &self,
        active_calls: usize,
        engine: &twoleg_core::Counters,
        health: &Health<'_>,
        connections: &ConnectionCounts,
        media: &crate::media::MediaTotals,
    ) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "twoleg_calls_active",
            "gauge",
            "Calls in progress.",
        );
        let _ = writeln!(out, "twoleg_calls_active {active_calls}");
        header(
            &mut out,
            "twoleg_calls_total",
            "counter",
            "Calls ended, by the final status the caller got.",
        );
        for (status, count) in &self.ended_by_status {
            let _ = writeln!(
                out,
                "twoleg_calls_total{{final_status=\"{status}\"}} {count}"
            );
        }
        for (name, help, value) in [
            (
                "twoleg_datagrams_in_total",
                "SIP datagrams received.",
                self.datagrams_in,
            ),
            (
                "twoleg_datagrams_out_total",
                "SIP datagrams sent.",
                self.datagrams_out,
            ),
            (
                "twoleg_retransmissions_total",
                "Messages the engine sent again.",
                self.retransmissions,
            ),
            (
                "twoleg_parse_errors_total",
                "Datagrams that were not well-formed SIP.",
                self.parse_errors,
            ),
            (
                "twoleg_guest_traps_total",
                "Engine instances that trapped and were replaced.",
                self.guest_traps,
            ),
            (
                "twoleg_icmp_errors_ignored_total",
                "ICMP errors ignored: they quoted no request TwoLeg sent to that peer, to its Via branch.",
                self.icmp_errors_ignored,
            ),
            (
                "twoleg_framing_errors_total",
                "TCP/TLS connections closed because their bytes could not be framed.",
                self.framing_errors,
            ),
            (
                "twoleg_connections_opened_total",
                "TCP/TLS connections that came up (accepted with any TLS handshake done, or opened).",
                connections.opened,
            ),
            (
                "twoleg_connections_refused_total",
                "TCP/TLS connections refused at the connection limit.",
                connections.refused,
            ),
            (
                "twoleg_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out.",
                connections.handshake_failures,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        for (name, kind, help, value) in [
            (
                "twoleg_turn_allocations_total",
                "counter",
                "TURN relays granted (RTP and RTCP count one each).",
                engine.turn_relays_granted,
            ),
            (
                "twoleg_turn_failures_total",
                "counter",
                "TURN allocation attempts that failed (per server tried).",
                engine.turn_failures,
            ),
            (
                "twoleg_turn_allocations_open",
                "gauge",
                "TURN allocations alive now.",
                engine.turn_allocations_open,
            ),
        ] {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "twoleg_connections_open",
            "gauge",
            "TCP/TLS connections open.",
        );
        let _ = writeln!(out, "twoleg_connections_open {}", connections.open);
        let get = crate::media::MediaTotals::get;
        for (name, kind, help, value) in [
            (
                "twoleg_media_packets_relayed_total",
                "counter",
                "RTP and RTCP packets of anchored calls forwarded from one leg to the other.",
                get(&media.relayed),
            ),
            (
                "twoleg_media_auth_failures_total",
                "counter",
                "SRTP and SRTCP packets that failed authentication (dropped).",
                get(&media.auth_failures),
            ),
            (
                "twoleg_media_replays_total",
                "counter",
                "SRTP and SRTCP packets refused as replays (dropped).",
                get(&media.replays),
            ),
            (
                "twoleg_media_dropped_total",
                "counter",
                "Media packets dropped otherwise: malformed, from an unlatched address, no peer yet.",
                get(&media.dropped),
            ),
            (
                "twoleg_media_streams_open",
                "gauge",
                "Anchored media lines being relayed.",
                get(&media.streams_open),
            ),
        ] {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "twoleg_turn_server_up",
            "gauge",
            "Whether a TURN address/port combination may be chosen (1) or is marked down (0).",
        );
        for (address, up) in health.turn_up {
            let _ = writeln!(
                out,
                "twoleg_turn_server_up{{address=\"{address}\"}} {}",
                u8::from(*up)
            );
        }
        header(
            &mut out,
            "twoleg_input_queue_depth",
            "gauge",
            "Datagrams waiting for the engine.",
        );
        let _ = writeln!(out, "twoleg_input_queue_depth {}", health.queue_depth);
        header(
            &mut out,
            "twoleg_calls_shed_total",
            "counter",
            "New INVITEs answered 503 at the door because the engine's input queue was too deep.",
        );
        let _ = writeln!(out, "twoleg_calls_shed_total {}", health.shed);
        header(
            &mut out,
            "twoleg_destination_up",
            "gauge",
            "Whether a route's destination takes calls (1) or is marked down by its pings (0).",
        );
        header(
            &mut out,
            "twoleg_access_refused_total",
            "counter",
            "Requests turned away by access control: the zone refuses or drops calls, credentials missing or wrong (407), or a flooding source.",
        );
        for (reason, count) in &self.access_refused {
            let _ = writeln!(
                out,
                "twoleg_access_refused_total{{reason=\"{reason}\"}} {count}"
            );
        }
        for (route, address, up) in health.destinations_up {
            let route = route
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = writeln!(
                out,
                "twoleg_destination_up{{route=\"{route}\",destination=\"{address}\"}} {}",
                u8::from(*up)
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
