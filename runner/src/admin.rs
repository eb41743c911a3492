//! The admin HTTP API (loopback by default): call status, call history, disconnect, config,
//! health and metrics. Requests go to the I/O loop as messages; nothing here touches the engine.
//!
//! With `admin.tokens`, every request but `GET /healthz` needs `Authorization: Bearer <token>`:
//! the token's SHA-256 is compared with each configured hash in constant time; a read token may
//! only read (403 for a disconnect), an operate token may also disconnect. A failed login is
//! counted (`twoleg_admin_auth_failures_total`), logged without the token, and answered 401
//! after a second's delay. With `admin.tls` the API speaks HTTPS only (rustls).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use twoleg_core::config::{AdminRole, AdminTokenPlan};

use crate::node::{AdminRequest, Message};

/// How long a failed login waits before its 401.
const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Api {
    loop_tx: SyncSender<Message>,
    /// The config as served by `GET /api/config`: passwords and token hashes redacted.
    redacted_config: String,
    /// The tokens (none: no authentication).
    tokens: Arc<Vec<AdminTokenPlan>>,
    /// Failed logins so far.
    auth_failures: Arc<AtomicU64>,
}

/// Who may use the admin API, and how it is served.
pub(crate) struct Access {
    /// Bearer tokens (none: no authentication; then the config allows loopback only).
    pub(crate) tokens: Vec<AdminTokenPlan>,
    /// HTTPS, when configured.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves the admin API on its own thread until the process ends.
pub(crate) fn spawn(
    listen: SocketAddr,
    loop_tx: SyncSender<Message>,
    redacted_config: String,
    fault_injection: bool,
    access: Access,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_io()
        .enable_time()
        .build()
        .context("starting the admin HTTP runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("binding the admin HTTP listener {listen}"))?;
    tracing::info!(
        %listen,
        https = access.tls.is_some(),
        tokens = access.tokens.len(),
        "admin HTTP API listening"
    );
    let api = Api {
        loop_tx,
        redacted_config,
        tokens: Arc::new(access.tokens),
        auth_failures: Arc::new(AtomicU64::new(0)),
    };
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/calls", get(calls))
        .route("/api/calls/{tag}", delete(disconnect))
        .route("/api/history", get(history))
        .route("/api/config", get(config))
        .route("/api/turn", get(turn))
        .route("/api/routes", get(routes))
        .route("/api/sources", get(sources))
        .route("/api/refusals", get(refusals))
        .route("/api/connections", get(connections))
        .route("/metrics", get(metrics));
    if fault_injection {
        router = router.route("/api/fault", post(fault));
    }
    let router = router
        .layer(axum::middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api);
    let tls = access.tls;
    std::thread::Builder::new()
        .name("admin http".to_owned())
        .spawn(move || {
            let served = runtime.block_on(async move {
                match tls {
                    None => axum::serve(listener, router).await,
                    Some(tls) => serve_https(listener, router, tls).await,
                }
            });
            if let Err(e) = served {
                tracing::error!(error = %e, "the admin HTTP API stopped");
            }
        })
        .context("starting the admin HTTP thread")?;
    Ok(())
}

/// HTTPS connections at once, at most; more wait to be accepted.
const HTTPS_CONNECTIONS: usize = 64;

/// How long a TLS handshake, and then a request's headers, may take.
const HTTPS_SLOW: Duration = Duration::from_secs(10);

/// HTTPS: each connection's TLS handshake, then HTTP/1.1 over it; slow handshakes and
/// requests are cut off, connections are capped, and accept errors (too many open files) are
/// waited out rather than ending the API.
async fn serve_https(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(tokio::sync::Semaphore::new(HTTPS_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin HTTPS accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(HTTPS_SLOW, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::warn!(%peer, %error, "admin HTTPS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "admin HTTPS handshake timed out");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HTTPS_SLOW)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %error, "admin HTTPS connection ended");
            }
        });
    }
}

/// With tokens configured: a request without a valid one gets 401 (after a delay, counted and
/// logged without the token); a read token asking to change something gets 403.
async fn authorize(State(api): State<Api>, request: Request, next: Next) -> Response {
    if api.tokens.is_empty() || request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let role = presented.and_then(|token| role_of(&api.tokens, token));
    let Some(role) = role else {
        let failures = api.auth_failures.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            path = %request.uri().path(),
            token_given = presented.is_some(),
            failures,
            "admin API: authentication failed"
        );
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"twoleg\"")],
            "a valid bearer token is needed\n",
        )
            .into_response();
    };
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes && role != AdminRole::Operate {
        return (StatusCode::FORBIDDEN, "this token may read, not operate\n").into_response();
    }
    next.run(request).await
}

/// The role of the token whose hash `token` has: every configured hash is compared, each in
/// constant time, so the time taken says nothing of which matched.
fn role_of(tokens: &[AdminTokenPlan], token: &str) -> Option<AdminRole> {
    let hash = Sha256::digest(token.as_bytes());
    let mut role = None;
    for plan in tokens {
        let difference = plan
            .sha256
            .iter()
            .zip(hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            role = Some(role.map_or(plan.role, |r: AdminRole| {
                if r == AdminRole::Operate {
                    r
                } else {
                    plan.role
                }
            }));
        }
    }
    role
}

impl Api {
    /// Sends a request to the I/O loop and waits for its reply.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> AdminRequest,
    ) -> Result<T, Response> {
        let (tx, rx) = oneshot::channel();
        // Never block the HTTP thread on a full queue: a busy runner says so.
        self.loop_tx
            .try_send(Message::Admin(make(tx)))
            .map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())
    }
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the B2BUA is shutting down or too busy to answer\n",
    )
        .into_response()
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn calls(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Calls).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn history(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::History).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn disconnect(State(api): State<Api>, Path(tag): Path<String>) -> Response {
    match api.ask(|tx| AdminRequest::Disconnect(tag, tx)).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(error)) => (StatusCode::NOT_FOUND, format!("{error}\n")).into_response(),
        Err(response) => response,
    }
}

async fn turn(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Turn).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn routes(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Routes).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn sources(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Sources).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn refusals(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Refusals).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn connections(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Connections).await {
        Ok(body) => json(body),
        Err(response) => response,
    }
}

async fn config(State(api): State<Api>) -> Response {
    json(api.redacted_config.clone())
}

async fn metrics(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::Metrics).await {
        Ok(mut body) => {
            let failures = api.auth_failures.load(Ordering::Relaxed);
            body.push_str(&format!(
                "# HELP twoleg_admin_auth_failures_total Admin API requests refused for want of a valid token.\n\
                 # TYPE twoleg_admin_auth_failures_total counter\n\
                 twoleg_admin_auth_failures_total {failures}\n"
            ));
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
        }
        Err(response) => response,
    }
}

async fn fault(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::InjectFault).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}
