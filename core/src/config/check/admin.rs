//! The admin API: who may use it. Off loopback it must authenticate (bearer tokens) and speak
//! HTTPS, since it can read the config and end every call.

use std::net::SocketAddr;

use super::Checker;
use crate::config::model;
use crate::config::plans::AdminTokenPlan;
use crate::config::problem::FieldPath;

impl Checker {
    pub(super) fn admin_tokens(
        &mut self,
        admin: &model::Admin,
        listen: Option<SocketAddr>,
        path: &FieldPath,
    ) -> Option<Vec<AdminTokenPlan>> {
        let mut tokens = Some(Vec::new());
        for (index, token) in admin.tokens.iter().enumerate() {
            let at = path.key("tokens").index(index);
            let name = token.name.trim();
            if name.is_empty() {
                self.report(at.key("name"), "is empty; say who holds the token");
            }
            let hash = parse_sha256(token.sha256.trim());
            if hash.is_none() {
                self.report(
                    at.key("sha256"),
                    "must be the token's SHA-256, 64 hex digits (printf %s TOKEN | sha256sum)",
                );
            }
            match (&mut tokens, hash) {
                (Some(list), Some(sha256)) if !name.is_empty() => list.push(AdminTokenPlan {
                    name: name.to_owned(),
                    role: token.role,
                    sha256,
                }),
                _ => tokens = None,
            }
        }
        if let Some(listen) = listen
            && !listen.ip().is_loopback()
        {
            if admin.tokens.is_empty() {
                self.report(
                    path.key("listen"),
                    format!(
                        "{listen} is not a loopback address: anyone who reaches it could read the config and end every call; add admin.tokens and admin.tls, or listen on 127.0.0.1"
                    ),
                );
                return None;
            }
            if admin.tls.is_none() {
                self.report(
                    path.key("tls"),
                    format!("{listen} is not a loopback address: tokens would travel in the clear; add admin.tls (a certificate and key) for HTTPS"),
                );
                return None;
            }
        }
        tokens
    }
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
