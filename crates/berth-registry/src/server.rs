//! Running the registry: builds the shared state from a [`Config`], listens (plain HTTP or
//! TLS via rustls, optionally requiring client certificates from `http.tls.clientcas`),
//! serves HTTP/1.1 with hyper (blob downloads on plain HTTP by `fastpath.rs`), runs
//! online GC if configured, and shuts down gracefully:
//! stop accepting, let in-flight requests (uploads included) finish for up to
//! `http.draintimeout`.

use crate::api::{self, AppState, RemoteAddr};
use crate::auth::htpasswd::Htpasswd;
use crate::auth::jwt::{Signer, Verifier};
use crate::auth::token_server::TokenServer;
use crate::auth::Authorizer;
use crate::config::{parse_duration, Config};
use crate::driver::FilesystemDriver;
use crate::store::Store;
use http::{HeaderName, HeaderValue};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;

/// Startup failures.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Setup(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn setup(e: impl std::fmt::Display) -> ServerError {
    ServerError::Setup(e.to_string())
}

/// Builds the handlers' shared state from a configuration.
pub fn build_state(cfg: &Config) -> Result<Arc<AppState>, ServerError> {
    let root = cfg.root_directory();
    std::fs::create_dir_all(&root)
        .map_err(|e| setup(format!("storage root {}: {e}", root.display())))?;
    let store = Store::new(Arc::new(
        FilesystemDriver::new(&root).with_fsync(cfg.fsync()),
    ));
    let mut token_server = None;
    let auth = if let Some(t) = &cfg.auth.token {
        let (realm, service, issuer) = (
            t.realm.clone().unwrap_or_default(),
            t.service.clone().unwrap_or_default(),
            t.issuer.clone().unwrap_or_default(),
        );
        let bundle = t.rootcertbundle.clone().unwrap_or_default();
        let v = Verifier::new(&realm, &service, &issuer, &bundle)
            .map_err(|e| setup(format!("auth.token.rootcertbundle: {e}")))?;
        if let Some(key) = &t.signingkey {
            let signer = Signer::new(&issuer, &service, key, &bundle)
                .map_err(|e| setup(format!("auth.token.signingkey: {e}")))?;
            let users_path = cfg
                .auth
                .htpasswd
                .as_ref()
                .and_then(|h| h.path.clone())
                .ok_or_else(|| {
                    setup(
                        "auth.token.signingkey needs auth.htpasswd.path (the token server's users)",
                    )
                })?;
            let users = Htpasswd::load(&users_path).map_err(setup)?;
            let path = url::Url::parse(&realm)
                .map(|u| u.path().to_string())
                .unwrap_or_else(|_| realm.clone());
            let ttl = t
                .expiration
                .as_deref()
                .and_then(|e| parse_duration(e).ok())
                .map(|d| d.as_secs().max(60))
                .unwrap_or(300);
            token_server = Some(TokenServer {
                path,
                signer,
                users,
                realm: cfg
                    .auth
                    .htpasswd
                    .as_ref()
                    .and_then(|h| h.realm.clone())
                    .unwrap_or_else(|| "berth-registry".into()),
                acl: t.acl.clone(),
                ttl_secs: ttl,
            });
        }
        Authorizer::Token(v)
    } else if let Some(h) = &cfg.auth.htpasswd {
        let path = h.path.clone().unwrap_or_default();
        Authorizer::Htpasswd {
            realm: h.realm.clone().unwrap_or_else(|| "basic-realm".into()),
            file: Htpasswd::load(&path).map_err(setup)?,
        }
    } else {
        Authorizer::Open
    };
    let mut headers = vec![(
        HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    )];
    for (k, vs) in &cfg.http.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| setup(format!("http.headers: {k:?}: {e}")))?;
        for v in vs {
            headers.push((
                name.clone(),
                HeaderValue::from_str(v).map_err(|e| setup(format!("http.headers.{k}: {e}")))?,
            ));
        }
    }
    let base_url = cfg
        .http
        .host
        .clone()
        .filter(|h| !h.is_empty() && !cfg.http.relativeurls);
    Ok(Arc::new(AppState {
        store,
        auth,
        token_server,
        delete_enabled: cfg.delete_enabled(),
        read_only: cfg.read_only(),
        base_url,
        headers,
        uploads: Default::default(),
        metrics: Default::default(),
        access_log: !cfg.log.accesslog.disabled,
    }))
}

fn load_tls(cfg: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, ServerError> {
    let Some(tls) = &cfg.http.tls else {
        return Ok(None);
    };
    let (Some(cert), Some(key)) = (&tls.certificate, &tls.key) else {
        return Ok(None);
    };
    let certs = read_certs(cert, "http.tls.certificate")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| setup(format!("http.tls.key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls.minimumtls.as_deref() == Some("tls1.3") {
            &[&rustls::version::TLS13]
        } else {
            rustls::ALL_VERSIONS
        };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(setup)?;
    let builder = if tls.clientcas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for p in &tls.clientcas {
            for c in read_certs(p, "http.tls.clientcas")? {
                roots
                    .add(c)
                    .map_err(|e| setup(format!("http.tls.clientcas {}: {e}", p.display())))?;
            }
        }
        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(setup)?;
        builder.with_client_cert_verifier(v)
    };
    // Not `with_single_cert`: it re-parses the certificate with webpki, which refuses the
    // v1 certificates that the guide's `openssl x509 -req` (no extensions) produces and
    // that distribution serves fine. The key is still checked by loading it.
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| setup(format!("http.tls.key: {e}")))?;
    if let (Some(pk), Ok((_, leaf))) = (
        signing.public_key(),
        x509_parser::parse_x509_certificate(certs[0].as_ref()),
    ) {
        if pk.as_ref() != leaf.tbs_certificate.subject_pki.raw {
            return Err(setup(
                "http.tls: the key in http.tls.key does not belong to the certificate in http.tls.certificate",
            ));
        }
    }
    let ck = rustls::sign::CertifiedKey::new(certs, signing);
    let mut sc = builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(ck)));
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(sc))))
}

fn read_certs(p: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let v: Vec<_> = CertificateDer::pem_file_iter(p)
        .map_err(|e| setup(format!("{key} {}: {e}", p.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| setup(format!("{key} {}: {e}", p.display())))?;
    if v.is_empty() {
        return Err(setup(format!(
            "{key} {}: no PEM certificate found",
            p.display()
        )));
    }
    Ok(v)
}

/// A running server.
pub struct Running {
    pub local_addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, waits for in-flight requests (bounded by the drain timeout).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (after a shutdown signal).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// A sender that triggers graceful shutdown.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Binds and starts serving in the background.
pub async fn start(cfg: &Config) -> Result<Running, ServerError> {
    let addr = cfg.listen_addr().map_err(setup)?;
    let state = build_state(cfg)?;
    let tls = load_tls(cfg)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen { addr, source })?;
    let (tx, rx) = watch::channel(false);
    let drain = cfg.drain_timeout();
    let app = api::router(state.clone());
    if let Some(gc) = cfg.storage.maintenance.gc.clone().filter(|g| g.enabled) {
        let store = state.store.clone();
        let interval = gc
            .interval
            .as_deref()
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(Duration::from_secs(3600));
        let grace = gc
            .graceperiod
            .as_deref()
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(crate::gc::DEFAULT_GRACE);
        let upload_age = cfg.upload_max_age();
        let mut rx2 = rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = rx2.changed() => return,
                }
                let s = store.clone();
                let upload_max_age = upload_age;
                let opts = crate::gc::GcOptions {
                    dry_run: false,
                    delete_untagged: gc.deleteuntagged,
                    grace,
                    upload_max_age,
                };
                match tokio::task::spawn_blocking(move || crate::gc::collect(&s, &opts)).await {
                    Ok(Ok(rep)) => tracing::info!(
                        blobs = rep.blobs_deleted.len(),
                        manifests = rep.manifests_deleted.len(),
                        "online gc done"
                    ),
                    Ok(Err(e)) => tracing::error!(error = %e, "online gc failed"),
                    Err(e) => tracing::error!(error = %e, "online gc panicked"),
                }
            }
        });
    }
    if let Some(daddr) = cfg.http.debug.as_ref().and_then(|d| d.addr.clone()) {
        let daddr = if daddr.starts_with(':') {
            format!("0.0.0.0{daddr}")
        } else {
            daddr
        };
        let daddr: SocketAddr = daddr
            .parse()
            .map_err(|e| setup(format!("http.debug.addr {daddr:?}: {e}")))?;
        let dl = TcpListener::bind(daddr)
            .await
            .map_err(|source| ServerError::Listen {
                addr: daddr,
                source,
            })?;
        let st = state.clone();
        let debug = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || async move { st.metrics.render() }),
            )
            .route("/debug/health", axum::routing::get(|| async { "{}" }));
        let mut rx3 = rx.clone();
        tokio::spawn(async move {
            let _ = axum::serve(dl, debug)
                .with_graceful_shutdown(async move {
                    let _ = rx3.changed().await;
                })
                .await;
        });
        tracing::info!(addr = %daddr, "debug server (/metrics, /debug/health) listening");
    }
    tracing::info!(addr = %local_addr, tls = tls.is_some(), root = %cfg.root_directory().display(), "registry listening");
    let policy = cfg.sendfile();
    let task = tokio::spawn(accept_loop(
        listener,
        tls,
        app,
        state.clone(),
        policy,
        rx,
        drain,
    ));
    Ok(Running {
        local_addr,
        state,
        shutdown: tx,
        task,
    })
}

/// HTTP connection settings: large read buffers so big uploads arrive in big frames.
fn conn_builder() -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    b.http1().max_buf_size(4 << 20);
    b
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    state: Arc<AppState>,
    policy: crate::config::Sendfile,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(RemoteAddr(peer));
                let mut app = app.clone();
                async move { app.call(req.map(axum::body::Body::new)).await }
            });
        let builder = conn_builder();
        match &tls {
            None => {
                // Blob downloads are answered on the socket (crate::fastpath); the first
                // other request hands the connection (and what was read of it) to hyper.
                let watcher = graceful.watcher();
                let hand_off = move |stream, pre| async move {
                    let io = crate::fastpath::Rewind::new(
                        crate::sendfile::SendfileStream::new(stream),
                        pre,
                    );
                    let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                };
                tokio::spawn(crate::fastpath::serve(
                    stream,
                    peer,
                    state.clone(),
                    policy,
                    stop.clone(),
                    hand_off,
                ));
            }
            Some(acc) => {
                let acc = acc.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let s = match tokio::time::timeout(Duration::from_secs(30), acc.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(peer = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let builder = conn_builder();
                    let conn = builder.serve_connection(TokioIo::new(s), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout reached; closing remaining connections");
    }
}
