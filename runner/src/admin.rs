//! The admin HTTP API (loopback by default): call status, call history, disconnect, config,
//! health and metrics. Requests go to the I/O loop as messages; nothing here touches the engine.

use std::net::SocketAddr;
use std::sync::mpsc::SyncSender;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::sync::oneshot;

use crate::node::{AdminRequest, Message};

#[derive(Clone)]
struct Api {
    loop_tx: SyncSender<Message>,
    /// The config as served by `GET /api/config`: passwords redacted.
    redacted_config: String,
}

/// Serves the admin API on its own thread until the process ends.
pub(crate) fn spawn(
    listen: SocketAddr,
    loop_tx: SyncSender<Message>,
    redacted_config: String,
    fault_injection: bool,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_io()
        .build()
        .context("starting the admin HTTP runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("binding the admin HTTP listener {listen}"))?;
    tracing::info!(%listen, "admin HTTP API listening");
    let api = Api {
        loop_tx,
        redacted_config,
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
        .route("/api/connections", get(connections))
        .route("/metrics", get(metrics));
    if fault_injection {
        router = router.route("/api/fault", post(fault));
    }
    let router = router.with_state(api);
    std::thread::Builder::new()
        .name("admin http".to_owned())
        .spawn(move || {
            if let Err(e) = runtime.block_on(async move { axum::serve(listener, router).await }) {
                tracing::error!(error = %e, "the admin HTTP API stopped");
            }
        })
        .context("starting the admin HTTP thread")?;
    Ok(())
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
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        Err(response) => response,
    }
}

async fn fault(State(api): State<Api>) -> Response {
    match api.ask(AdminRequest::InjectFault).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}
