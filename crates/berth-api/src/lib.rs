//! berth-api: the Docker Engine API, served over a unix socket with axum/hyper.
//!
//! Requests may carry a `/v1.NN` prefix; [`version`] checks and strips it before routing,
//! and every response carries the `Api-Version`, `Ostype` and `Server` headers the docker
//! CLI negotiates with. Handlers translate HTTP to [`berth_engine::Engine`] calls, run
//! blocking engine work on the blocking pool, and stream large bodies both ways.

mod error;
mod routes;
mod stream;
mod version;

pub use error::ApiError;

use berth_engine::Engine;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use tokio::net::UnixListener;
use tower::ServiceExt;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    engine: Arc<Engine>,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = routes::router(AppState { engine });
    let app = tower::Layer::layer(&axum::middleware::from_fn(version::handle), router);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}
