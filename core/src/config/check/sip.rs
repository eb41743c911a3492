//! The `sip` section: listeners and timers.

use std::time::Duration;

use super::Checker;
use crate::Transport;
use crate::config::model::{self};
use crate::config::plans::{ConnectionLimits, ListenerPlan, TimerValues, TlsPlan};
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn listeners(
        &mut self,
        listeners: &[model::Listener],
        path: &FieldPath,
    ) -> Option<Vec<ListenerPlan>> {
        if listeners.is_empty() {
            self.report(path.clone(), "is empty; give at least one listener");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, listener) in listeners.iter().enumerate() {
            let at = path.index(i);
            let address = self.socket_addr(&listener.address, &at.key("address"));
            let transport = self.transport(&listener.transport, &at.key("transport"));
            let (Some(address), Some(transport)) = (address, transport) else {
                ok = false;
                continue;
            };
            // UDP and TCP may share an address; two listeners of one kind may not, nor TCP and
            // TLS (both are TCP ports).
            let clash = |l: &ListenerPlan| {
                l.address == address
                    && (l.transport == transport
                        || l.transport != Transport::Udp && transport != Transport::Udp)
            };
            if let Some(first) = out.iter().position(clash) {
                self.report(
                    at.key("address"),
                    format!(
                        "{address} over {transport} clashes with {}",
                        path.index(first).key("address")
                    ),
                );
                ok = false;
            }
            let tls = match (transport, &listener.tls) {
                (Transport::Tls, Some(files)) => self.tls_files(files, &at.key("tls")),
                (Transport::Tls, None) => {
                    self.report(
                        at.key("tls"),
                        "is missing; a tls listener needs its certificate_chain and private_key",
                    );
                    None
                }
                (_, Some(_)) => {
                    self.report(at.key("tls"), "is only for listeners with transport tls");
                    None
                }
                (_, None) => Some(None),
            };
            let Some(tls) = tls else {
                ok = false;
                continue;
            };
            if !listener.name.is_empty()
                && let Some(first) = out.iter().position(|l| l.name == listener.name)
            {
                self.report(
                    at.key("name"),
                    format!(
                        "\"{}\" duplicates {}",
                        listener.name,
                        path.index(first).key("name")
                    ),
                );
                ok = false;
            }
            let limits = [
                (listener.max_calls, "max_calls"),
                (listener.max_calls_per_second, "max_calls_per_second"),
            ];
            if let Some((_, key)) = limits.iter().find(|(value, _)| *value > 1_000_000) {
                self.report(at.key(key), "is over 1,000,000; 0 means no limit");
                ok = false;
                continue;
            }
            out.push(ListenerPlan {
                name: listener.name.clone(),
                address,
                transport,
                tls,
                max_calls: (listener.max_calls > 0).then_some(listener.max_calls as usize),
                max_calls_per_second: (listener.max_calls_per_second > 0)
                    .then_some(listener.max_calls_per_second as usize),
            });
        }
        ok.then_some(out)
    }

    pub(super) fn timers(
        &mut self,
        timers: &model::Timers,
        path: &FieldPath,
    ) -> Option<TimerValues> {
        let t1 = self.bounded(timers.t1_ms, 1, 60_000, &path.key("t1_ms"), "ms");
        let t2 = self.bounded(timers.t2_ms, 1, 600_000, &path.key("t2_ms"), "ms");
        let t4 = self.bounded(timers.t4_ms, 1, 600_000, &path.key("t4_ms"), "ms");
        let (t1, t2, t4) = (t1?, t2?, t4?);
        if t2 < t1 {
            self.report(
                path.key("t2_ms"),
                format!("{t2} ms is below T1 ({t1} ms); T2 caps intervals that start at T1"),
            );
            return None;
        }
        Some(TimerValues {
            t1: Duration::from_millis(t1),
            t2: Duration::from_millis(t2),
            t4: Duration::from_millis(t4),
        })
    }
}

impl Checker {
    /// `udp`, `tcp` or `tls`.
    pub(super) fn transport(&mut self, text: &str, path: &FieldPath) -> Option<Transport> {
        match text.to_ascii_lowercase().as_str() {
            "" | "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => {
                self.report(
                    path.clone(),
                    format!("\"{text}\" is not a transport; give udp, tcp or tls"),
                );
                None
            }
        }
    }

    /// The files of a TLS listener: named (the runner reads them; `twoleg check` opens them).
    fn tls_files(&mut self, files: &model::TlsFiles, path: &FieldPath) -> Option<Option<TlsPlan>> {
        let mut ok = true;
        for (key, value) in [
            ("certificate_chain", &files.certificate_chain),
            ("private_key", &files.private_key),
        ] {
            if value.trim().is_empty() {
                self.report(path.key(key), "is empty; give the path of a PEM file");
                ok = false;
            }
        }
        if files.require_client_certificate && files.ca.trim().is_empty() {
            self.report(
                path.key("ca"),
                "is empty, but require_client_certificate is on: give the CA that signs the clients' certificates",
            );
            ok = false;
        }
        ok.then(|| {
            Some(TlsPlan {
                certificate_chain: files.certificate_chain.clone(),
                private_key: files.private_key.clone(),
                ca: (!files.ca.trim().is_empty()).then(|| files.ca.clone()),
                require_client_certificate: files.require_client_certificate,
            })
        })
    }

    pub(super) fn connections(
        &mut self,
        connections: &model::Connections,
        path: &FieldPath,
    ) -> Option<ConnectionLimits> {
        let max = self.bounded(
            connections.max,
            1,
            1_000_000,
            &path.key("max"),
            "connections",
        );
        let idle = self.bounded(
            connections.idle_timeout_s,
            1,
            86_400,
            &path.key("idle_timeout_s"),
            "s",
        );
        let handshake = self.bounded(
            connections.handshake_timeout_ms,
            100,
            600_000,
            &path.key("handshake_timeout_ms"),
            "ms",
        );
        Some(ConnectionLimits {
            max: max? as usize,
            idle_timeout: Duration::from_secs(idle?),
            handshake_timeout: Duration::from_millis(handshake?),
        })
    }
}
