//! Docker registry tokens (distribution `docs/spec/auth/jwt.md`): verifying Bearer JWTs
//! against the certificates of `auth.token.rootcertbundle`, and signing them for the
//! built-in token server.
//!
//! A token's signing key is found, as distribution does, either through the `x5c` header
//! (its leaf certificate must be one of the bundle's certificates) or through `kid`, the
//! libtrust key id of a bundle certificate's public key (what cesanta/docker_auth and
//! distribution's own tools emit). An `x5c` leaf that is not itself in the bundle is
//! accepted when its chain (the rest of `x5c` as intermediates) verifies up to a bundle
//! certificate (rustls-webpki).

use super::Scope;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::path::Path;

/// Token problems.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("reading {path}: {message}")]
    Load { path: String, message: String },
    #[error("token header: {0}")]
    Header(String),
    #[error("no trusted key matches the token's x5c/kid")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
}

/// The `access` claim entries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub typ: String,
    pub name: String,
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Registry token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    pub aud: serde_json::Value,
    pub exp: u64,
    #[serde(default)]
    pub nbf: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessEntry>,
}

impl Claims {
    /// Does the token allow `action` on `typ:name`?
    pub fn grants(&self, typ: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.typ == typ && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
        })
    }
}

struct TrustedKey {
    der: Vec<u8>,
    kid: String,
    key: DecodingKey,
    rsa: bool,
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, JwtError> {
    let err = |m: String| JwtError::Load {
        path: path.display().to_string(),
        message: m,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificates found".into()));
    }
    Ok(certs)
}

/// The libtrust key id: base32 of the first 240 bits of sha256(SPKI DER), in groups of 4.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let h = sha2::Sha256::digest(spki_der);
    let s = base32(&h[..30]);
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHA: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHA[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHA[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn trusted_key(der: &[u8]) -> Result<TrustedKey, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let spki = &cert.tbs_certificate.subject_pki;
    let oid = spki.algorithm.algorithm.to_id_string();
    let raw = &spki.subject_public_key.data;
    let (key, rsa) = match oid.as_str() {
        "1.2.840.113549.1.1.1" => (DecodingKey::from_rsa_der(raw), true),
        "1.2.840.10045.2.1" => (DecodingKey::from_ec_der(raw), false),
        o => return Err(format!("unsupported public key algorithm {o}")),
    };
    Ok(TrustedKey {
        der: der.to_vec(),
        kid: libtrust_kid(spki.raw),
        key,
        rsa,
    })
}

/// Verifies Bearer tokens for one registry service.
pub struct Verifier {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    keys: Vec<TrustedKey>,
    roots: Vec<CertificateDer<'static>>,
}

/// Verifies `x5c` (base64 DER, leaf first) up to one of `roots`.
fn verify_chain(x5c: &[Vec<u8>], roots: &[CertificateDer<'static>]) -> Result<(), JwtError> {
    let anchors: Vec<_> = roots
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let leaf = CertificateDer::from(x5c[0].clone());
    let inter: Vec<CertificateDer<'static>> = x5c[1..]
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| JwtError::Header(format!("x5c leaf: {e}")))?;
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    ee.verify_for_usage(
        algs,
        &anchors,
        &inter,
        rustls_pki_types::UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| JwtError::Invalid(format!("x5c chain does not verify to rootcertbundle: {e}")))
}

impl Verifier {
    /// Loads the root certificate bundle.
    pub fn new(
        realm: &str,
        service: &str,
        issuer: &str,
        bundle: &Path,
    ) -> Result<Verifier, JwtError> {
        let mut keys = Vec::new();
        let roots = load_certs(bundle)?;
        for c in &roots {
            keys.push(trusted_key(c.as_ref()).map_err(|m| JwtError::Load {
                path: bundle.display().to_string(),
                message: m,
            })?);
        }
        Ok(Verifier {
            realm: realm.into(),
            service: service.into(),
            issuer: issuer.into(),
            keys,
            roots,
        })
    }

    /// Checks signature, issuer, audience and times; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let h = jsonwebtoken::decode_header(token).map_err(|e| JwtError::Header(e.to_string()))?;
        let chained;
        let key = if let Some(x5c) = h.x5c.as_ref().filter(|v| !v.is_empty()) {
            let ders = x5c
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.decode(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| JwtError::Header(format!("x5c: {e}")))?;
            match self.keys.iter().find(|k| k.der == ders[0]) {
                Some(k) => k,
                None => {
                    verify_chain(&ders, &self.roots)?;
                    chained = trusted_key(&ders[0]).map_err(JwtError::Header)?;
                    &chained
                }
            }
        } else if let Some(kid) = &h.kid {
            self.keys
                .iter()
                .find(|k| &k.kid == kid)
                .ok_or(JwtError::UnknownKey)?
        } else {
            return Err(JwtError::UnknownKey);
        };
        let family_ok = match h.alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => key.rsa,
            Algorithm::ES256 | Algorithm::ES384 => !key.rsa,
            _ => false,
        };
        if !family_ok {
            return Err(JwtError::Invalid(format!(
                "algorithm {:?} does not fit the signing key",
                h.alg
            )));
        }
        let mut v = Validation::new(h.alg);
        v.set_audience(&[&self.service]);
        v.set_issuer(&[&self.issuer]);
        v.leeway = 60;
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &v)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        Ok(data.claims)
    }
}

/// Signs tokens (built-in token server).
pub struct Signer {
    pub issuer: String,
    pub service: String,
    key: EncodingKey,
    alg: Algorithm,
    x5c: String,
    kid: String,
}

impl Signer {
    /// `key_path`: PEM private key (RSA or EC P-256); its certificate is the first one in
    /// `bundle`.
    pub fn new(
        issuer: &str,
        service: &str,
        key_path: &Path,
        bundle: &Path,
    ) -> Result<Signer, JwtError> {
        let pem = std::fs::read(key_path).map_err(|e| JwtError::Load {
            path: key_path.display().to_string(),
            message: e.to_string(),
        })?;
        let cert = load_certs(bundle)?.remove(0);
        let tk = trusted_key(cert.as_ref()).map_err(|m| JwtError::Load {
            path: bundle.display().to_string(),
            message: m,
        })?;
        let (key, alg) = if tk.rsa {
            (EncodingKey::from_rsa_pem(&pem), Algorithm::RS256)
        } else {
            (EncodingKey::from_ec_pem(&pem), Algorithm::ES256)
        };
        let key = key.map_err(|e| JwtError::Load {
            path: key_path.display().to_string(),
            message: format!(
                "not a usable private key for the first certificate of the bundle: {e}"
            ),
        })?;
        Ok(Signer {
            issuer: issuer.into(),
            service: service.into(),
            key,
            alg,
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.as_ref()),
            kid: tk.kid,
        })
    }

    /// Issues a token for `sub` granting `access`, valid `ttl_secs`.
    pub fn sign(&self, sub: &str, access: &[Scope], ttl_secs: u64) -> Result<String, JwtError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            aud: serde_json::Value::String(self.service.clone()),
            exp: now + ttl_secs,
            nbf: now.saturating_sub(1),
            iat: now,
            jti: crate::store::uuid_v4(),
            access: access
                .iter()
                .map(|s| AccessEntry {
                    typ: s.typ.clone(),
                    name: s.name.clone(),
                    actions: s.actions.clone(),
                })
                .collect(),
        };
        let mut h = Header::new(self.alg);
        h.typ = Some("JWT".into());
        h.kid = Some(self.kid.clone());
        h.x5c = Some(vec![self.x5c.clone()]);
        jsonwebtoken::encode(&h, &claims, &self.key).map_err(|e| JwtError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_known_vector() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let kid = libtrust_kid(b"x");
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
    }

    #[test]
    fn grants_check_type_name_action() {
        let c = Claims {
            iss: "i".into(),
            sub: "u".into(),
            aud: "s".into(),
            exp: 0,
            nbf: 0,
            iat: 0,
            jti: String::new(),
            access: vec![AccessEntry {
                typ: "repository".into(),
                name: "a/b".into(),
                actions: vec!["pull".into()],
            }],
        };
        assert!(c.grants("repository", "a/b", "pull"));
        assert!(!c.grants("repository", "a/b", "push"));
        assert!(!c.grants("repository", "a/c", "pull"));
    }
}
