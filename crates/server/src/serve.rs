//! `shiphold serve`: opens the store, serves the API, runs the delivery jobs, and stops both
//! cleanly on SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use shiphold_api::AppState;
use shiphold_domain::SystemClock;
use tokio::sync::watch;

use crate::open_store;
use crate::settings::Loaded;

pub async fn run(loaded: Loaded) -> Result<()> {
    let settings = &loaded.settings;
    let store = open_store(settings, settings.database.migrate_on_start).await?;

    let addr = settings.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr} (server.listen)"))?;
    let bound = listener
        .local_addr()
        .context("could not read the bound address")?;

    let config = settings.api_config(Some(bound));
    let run_jobs = config.run_jobs;
    tracing::info!(
        public_base_url = %config.public_base_url,
        worker_id = %config.worker_id,
        jobs = run_jobs,
        "configured"
    );
    let state = AppState::new(store, Arc::new(SystemClock), config);
    let app = shiphold_api::router(state.clone());
    let metrics_listener = match settings.metrics_addr()? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen on {addr} (metrics.listen)"))?,
        ),
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let jobs = run_jobs.then(|| shiphold_api::jobs::spawn(state.clone(), stop_rx.clone()));

    let header_read_timeout = settings.header_read_timeout();
    let mut server = tokio::spawn(serve_http(
        listener,
        app,
        header_read_timeout,
        stop_rx.clone(),
    ));
    // The e2e harness and operators read this line; with port 0 it carries the real port.
    tracing::info!("listening on http://{bound}");
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .context("could not read the metrics address")?;
            tracing::info!("metrics on http://{addr}/metrics");
            Some(tokio::spawn(serve_http(
                listener,
                shiphold_api::metrics_router(state.clone()),
                header_read_timeout,
                stop_rx.clone(),
            )))
        }
        None => None,
    };

    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down: no new connections, finishing in-flight work");
        }
        ended = &mut server => {
            // The server only ends by itself on an I/O error of the listener.
            let _ = stop_tx.send(true);
            if let Some(jobs) = jobs {
                let _ = tokio::time::timeout(settings.shutdown_timeout(), jobs).await;
            }
            return match ended {
                Ok(Ok(())) => Err(anyhow::anyhow!("the HTTP server stopped unexpectedly")),
                Ok(Err(err)) => Err(anyhow::Error::new(err).context("the HTTP server failed")),
                Err(err) => Err(anyhow::Error::new(err).context("the HTTP server task failed")),
            };
        }
    }
    let _ = stop_tx.send(true);

    let timeout = settings.shutdown_timeout();
    let drain = async {
        if let Err(err) = (&mut server).await {
            tracing::error!(error = %err, "the HTTP server task failed while stopping");
        }
        if let Some(metrics_server) = metrics_server
            && let Err(err) = metrics_server.await
        {
            tracing::error!(error = %err, "the metrics server task failed while stopping");
        }
        if let Some(jobs) = jobs
            && let Err(err) = jobs.await
        {
            tracing::error!(error = %err, "the delivery jobs failed while stopping");
        }
    };
    tokio::select! {
        () = drain => tracing::info!("stopped"),
        () = tokio::time::sleep(timeout) => {
            // Deliveries are at least once: an abandoned attempt's lease runs out and it is retried.
            tracing::warn!(
                timeout_seconds = timeout.as_secs(),
                "shutdown timed out; abandoning what is still in flight"
            );
        }
        signal = shutdown_signal() => {
            tracing::warn!(signal, "second signal: stopping without waiting");
        }
    }
    Ok(())
}

/// Serves `app` on `listener` over HTTP/1 until `stop` turns true, then waits for the open
/// connections to finish their requests. hyper's own connection builder, because it has the
/// header-read timeout (`server.header_read_timeout_seconds`): a client that opens a connection
/// and sends its headers slowly, or not at all, is disconnected, so idle sockets cannot pile up.
/// Each request carries the peer's address as axum's `ConnectInfo`.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_read_timeout: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stopping = async move {
        // An error means the sender is gone, which also means stop.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stopping);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM, with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                () = ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch SIGTERM; only SIGINT stops the server");
                ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c().await;
        "Ctrl-C"
    }
}

/// Resolves on Ctrl-C; never, if the handler cannot be installed (that must not read as a signal).
async fn ctrl_c() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %err, "cannot watch SIGINT");
        std::future::pending::<()>().await;
    }
}
