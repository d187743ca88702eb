//! TLS trust for registries, as docker does it: the system roots, plus every `*.crt` in
//! `/etc/berth/certs.d/<host:port>/` and `/etc/docker/certs.d/<host:port>/` as extra CAs,
//! and `client.cert`/`client.key` there as the client certificate. Insecure registries
//! get a verifier that accepts any certificate.

use crate::error::{DistError, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The certs.d folders that apply to `registry` (`host:port`), existing ones only.
pub fn cert_dirs(roots: &[PathBuf], registry: &str) -> Vec<PathBuf> {
    roots
        .iter()
        .map(|r| r.join(registry))
        .filter(|p| p.is_dir())
        .collect()
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A rustls client config for `registry`: verifying against system roots plus certs.d
/// CAs, or (insecure) verifying nothing.
pub fn client_config(
    registry: &str,
    roots: &[PathBuf],
    verify: bool,
) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| DistError::Invalid(format!("tls setup: {e}")))?;
    let dirs = cert_dirs(roots, registry);
    let builder = if verify {
        let mut store = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = store.add(c);
        }
        for d in &dirs {
            for p in read_dir_sorted(d) {
                if p.extension().and_then(|e| e.to_str()) != Some("crt") {
                    continue;
                }
                let certs = CertificateDer::pem_file_iter(&p).map_err(|e| {
                    DistError::Invalid(format!("reading CA certificate {}: {e}", p.display()))
                })?;
                for c in certs {
                    let c = c.map_err(|e| {
                        DistError::Invalid(format!("reading CA certificate {}: {e}", p.display()))
                    })?;
                    store.add(c).map_err(|e| {
                        DistError::Invalid(format!("CA certificate {}: {e}", p.display()))
                    })?;
                }
                tracing::debug!(ca = %p.display(), %registry, "trusting certs.d CA");
            }
        }
        builder.with_root_certificates(store)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
    };
    // Client certificate: <name>.cert with a matching <name>.key.
    for d in &dirs {
        for p in read_dir_sorted(d) {
            if p.extension().and_then(|e| e.to_str()) != Some("cert") {
                continue;
            }
            let key = p.with_extension("key");
            if !key.is_file() {
                return Err(DistError::Invalid(format!(
                    "client certificate {} has no matching key {}",
                    p.display(),
                    key.display()
                )));
            }
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&p)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    DistError::Invalid(format!("reading client certificate {}: {e}", p.display()))
                })?;
            let k = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                DistError::Invalid(format!("reading client key {}: {e}", key.display()))
            })?;
            return builder.with_client_auth_cert(chain, k).map_err(|e| {
                DistError::Invalid(format!("client certificate {}: {e}", p.display()))
            });
        }
    }
    Ok(builder.with_no_client_auth())
}

/// Accepts any server certificate (`--insecure-registry`), still checking handshake
/// signatures so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
