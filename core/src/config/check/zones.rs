//! Zones (with who may call through them), digest authentication, flood protection and the
//! encryption B2BUA.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::Checker;
use crate::config::model::{self};
use crate::config::plans::{AuthPlan, EncryptionPolicy, FloodPlan, IpBlock, ZonePlan, ZoneTable};
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn zones(
        &mut self,
        zones: &[model::Zone],
        default_zone: &model::DefaultZone,
        path: &FieldPath,
    ) -> Option<ZoneTable> {
        let mut names = BTreeSet::new();
        let mut plans = Some(Vec::new());
        for (index, zone) in zones.iter().enumerate() {
            let path = path.index(index);
            let name = zone.name.trim();
            if name.is_empty() {
                self.report(path.key("name"), "is empty; give the zone a name");
            } else if name.eq_ignore_ascii_case("Default Zone") {
                self.report(
                    path.key("name"),
                    "\"Default Zone\" is the zone of every address no zone lists; set its mode in default_zone",
                );
            } else if !names.insert(name.to_ascii_lowercase()) {
                self.report(
                    path.key("name"),
                    format!("a zone named \"{name}\" comes earlier"),
                );
            }
            if zone.peers.is_empty() {
                self.report(
                    path.key("peers"),
                    "is empty; list the IP addresses or CIDR blocks of the zone's peers",
                );
            }
            // Every peer is checked, so that every mistake is reported at once.
            let peers: Vec<Option<IpBlock>> = zone
                .peers
                .iter()
                .enumerate()
                .map(|(i, text)| self.ip_block(text, &path.key("peers").index(i)))
                .collect();
            let peers: Option<Vec<IpBlock>> = peers.into_iter().collect();
            match (&mut plans, peers) {
                (Some(plans), Some(peers)) if !name.is_empty() => plans.push(ZonePlan {
                    name: name.to_owned(),
                    peers,
                    mode: zone.media_encryption_mode,
                    calls: zone.calls,
                    authentication: zone.authentication_policy,
                }),
                _ => plans = None,
            }
        }
        Some(ZoneTable {
            zones: plans?,
            default_mode: default_zone.media_encryption_mode,
            default_calls: default_zone.calls,
            default_authentication: default_zone.authentication_policy,
        })
    }

    /// Digest authentication; `zones` says whether any zone checks credentials (then some
    /// must be configured).
    pub(super) fn authentication(
        &mut self,
        auth: &model::Authentication,
        checks_credentials: Option<&FieldPath>,
        path: &FieldPath,
    ) -> Option<AuthPlan> {
        let mut ok = true;
        let realm = auth.realm.trim();
        if realm.is_empty() || realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            self.report(
                path.key("realm"),
                "must be a non-empty name without quotes or backslashes",
            );
            ok = false;
        }
        if auth.algorithms.is_empty() {
            self.report(
                path.key("algorithms"),
                "is empty; offer \"SHA-256\", \"MD5\" or both",
            );
            ok = false;
        }
        let nonce_lifetime = self.bounded(
            auth.nonce_lifetime_s,
            10,
            86_400,
            &path.key("nonce_lifetime_s"),
            "s",
        );
        let mut credentials = BTreeMap::new();
        for (index, credential) in auth.credentials.iter().enumerate() {
            let at = path.key("credentials").index(index);
            let username = credential.username.trim();
            if username.is_empty()
                || username.contains(['"', '\\'])
                || username.chars().any(char::is_control)
            {
                self.report(
                    at.key("username"),
                    "must be a non-empty name without quotes or backslashes",
                );
                ok = false;
                continue;
            }
            if credential.password.is_empty() {
                self.report(at.key("password"), "is empty; give the user a password");
                ok = false;
            }
            if credentials
                .insert(username.to_owned(), credential.password.clone())
                .is_some()
            {
                self.report(
                    at.key("username"),
                    format!("\"{username}\" is listed earlier"),
                );
                ok = false;
            }
        }
        if let Some(zone) = checks_credentials
            && credentials.is_empty()
            && ok
        {
            self.report(
                zone.clone(),
                "checks credentials, but authentication.credentials lists none: no call could get through",
            );
            ok = false;
        }
        let mut algorithms = Vec::new();
        for algorithm in &auth.algorithms {
            if !algorithms.contains(algorithm) {
                algorithms.push(*algorithm);
            }
        }
        ok.then_some(AuthPlan {
            realm: realm.to_owned(),
            algorithms,
            nonce_lifetime: Duration::from_secs(nonce_lifetime?),
            credentials,
        })
    }

    /// Per-source flood protection (off at 0 requests per second).
    pub(super) fn flood_protection(
        &mut self,
        flood: &model::FloodProtection,
        path: &FieldPath,
    ) -> Option<Option<FloodPlan>> {
        if flood.max_requests_per_second == 0 {
            return Some(None);
        }
        let max = self.bounded(
            flood.max_requests_per_second,
            1,
            1_000_000,
            &path.key("max_requests_per_second"),
            "requests",
        );
        let block = self.bounded(flood.block_s, 1, 86_400, &path.key("block_s"), "s");
        Some(Some(FloodPlan {
            max_per_second: max? as u32,
            block: Duration::from_secs(block?),
            action: flood.action,
        }))
    }

    fn ip_block(&mut self, text: &str, path: &FieldPath) -> Option<IpBlock> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let Ok(address) = address.parse::<IpAddr>() else {
            self.report(
                path.clone(),
                format!("\"{text}\" is not an IP address or CIDR block like 10.1.0.0/16"),
            );
            return None;
        };
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= bits => prefix,
                _ => {
                    self.report(
                        path.clone(),
                        format!("\"{text}\": the prefix length must be 0 to {bits}"),
                    );
                    return None;
                }
            },
        };
        Some(IpBlock { address, prefix })
    }

    pub(super) fn encryption_b2bua(
        &mut self,
        b2bua: &model::EncryptionB2bua,
        path: &FieldPath,
    ) -> Option<EncryptionPolicy> {
        let max_calls = self.bounded(b2bua.max_calls, 1, 10_000, &path.key("max_calls"), "calls");
        let range = path.key("media_port_range");
        let media_ports = match self.port_range(&b2bua.media_port_range, &range) {
            Some((start, end)) if u32::from(end) < u32::from(start) + 3 => {
                self.report(
                    range.key("end"),
                    format!(
                        "{start}-{end} holds fewer than two RTP/RTCP port pairs (one call's two legs)"
                    ),
                );
                None
            }
            range => range,
        };
        let timeout = path.key("media_timeout_s");
        let media_timeout = match b2bua.media_timeout_s {
            0 => Some(None),
            seconds => self
                .bounded(seconds, 5, 86_400, &timeout, "s")
                .map(|seconds| Some(Duration::from_secs(seconds))),
        };
        Some(EncryptionPolicy {
            max_calls: max_calls? as usize,
            media_ports: media_ports?,
            media_timeout: media_timeout?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{MediaEncryptionMode, ValidConfig};

    #[test]
    fn zones_map_addresses_to_modes_and_the_default_takes_the_rest() {
        let config = ValidConfig::from_json(
            r#"{ "zones": [
                { "name": "pbx", "peers": ["192.0.2.10", "10.1.0.0/16"],
                  "media_encryption_mode": "force_encrypted" },
                { "name": "v6", "peers": ["2001:db8::/32"], "media_encryption_mode": "best_effort" }
              ],
              "default_zone": { "media_encryption_mode": "force_unencrypted" } }"#,
        )
        .unwrap();
        let zones = config.zones();
        let zone = |ip: &str| zones.zone_of(ip.parse().unwrap());
        assert_eq!(
            zone("192.0.2.10"),
            ("pbx", MediaEncryptionMode::ForceEncrypted)
        );
        assert_eq!(
            zone("10.1.255.3"),
            ("pbx", MediaEncryptionMode::ForceEncrypted)
        );
        assert_eq!(zone("10.2.0.1").1, MediaEncryptionMode::ForceUnencrypted);
        assert_eq!(zone("2001:db8::7"), ("v6", MediaEncryptionMode::BestEffort));
        assert_eq!(
            zone("192.0.2.11"),
            ("Default Zone", MediaEncryptionMode::ForceUnencrypted)
        );
        assert_eq!(config.encryption().max_calls, 100);
        assert_eq!(config.encryption().media_ports, (36_000, 59_999));
    }

    #[test]
    fn every_zone_mistake_is_named_with_its_path() {
        let problems = ValidConfig::from_json(
            r#"{ "zones": [
                { "name": "a", "peers": ["10.0.0.0/33", "pbx.example.com"] },
                { "name": "A", "peers": [] },
                { "name": "", "peers": ["::1"] }
              ],
              "encryption_b2bua": { "max_calls": 0, "media_port_range": { "start": 40000, "end": 40001 } } }"#,
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "zones[0].peers[0]: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            "zones[0].peers[1]: \"pbx.example.com\" is not an IP address or CIDR block",
            "zones[1].name: a zone named \"A\" comes earlier",
            "zones[1].peers: is empty",
            "zones[2].name: is empty",
            "encryption_b2bua.max_calls: 0 calls is out of range",
            "encryption_b2bua.media_port_range.end: 40000-40001 holds fewer than two",
        ] {
            assert!(problems.contains(expected), "{expected}\nin\n{problems}");
        }
        let problems = ValidConfig::from_json(
            r#"{ "zones": [ { "name": "a", "peers": ["::1"], "media_encryption_mode": "sometimes" } ] }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            problems.contains("zones[0].media_encryption_mode")
                && problems.contains("force_encrypted, force_unencrypted")
                || problems.contains("`force_encrypted`"),
            "{problems}"
        );
    }
}
