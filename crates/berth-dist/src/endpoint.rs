//! Where a registry name points and how far it is trusted: `docker.io` is served by
//! `registry-1.docker.io`; `localhost` and `127.0.0.0/8` (Docker's exception) and
//! `--insecure-registry` entries may use plain HTTP or unverified TLS; everything else
//! needs verified TLS.
//!
//! Unlike dockerd, a host *name* is judged as written, not by the addresses it resolves
//! to, so a name that happens to resolve to loopback still gets verified TLS.

use std::net::Ipv4Addr;

/// Docker Hub's name in references and the host that serves its API.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A registry as berth will talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The name users write (`localhost:5000`, `docker.io`).
    pub name: String,
    /// `host[:port]` to connect to.
    pub api_host: String,
    /// Plain HTTP or unverified TLS allowed.
    pub insecure: bool,
}

/// Splits `host:port` (or `[v6]:port`) into the host part.
fn host_part(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h)
}

/// `localhost` or an IPv4 literal in 127.0.0.0/8.
pub fn is_local(h: &str) -> bool {
    let host = host_part(h);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<Ipv4Addr>()
            .map(|a| a.is_loopback())
            .unwrap_or(false)
}

fn in_cidr(h: &str, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits), Ok(ip)) = (
        net.parse::<Ipv4Addr>(),
        bits.parse::<u32>(),
        host_part(h).parse::<Ipv4Addr>(),
    ) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(net) & mask == u32::from(ip) & mask
}

/// Resolves a reference's domain against the `--insecure-registry` list (entries are
/// `host[:port]` or IPv4 CIDRs).
pub fn endpoint(domain: &str, insecure_registries: &[String]) -> Endpoint {
    let api_host = if domain == DOCKER_HUB || domain == "index.docker.io" {
        DOCKER_HUB_API.to_string()
    } else {
        domain.to_string()
    };
    let listed = insecure_registries.iter().any(|e| {
        let e = e
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        e == domain || (!e.contains(':') && e == host_part(domain)) || in_cidr(domain, e)
    });
    Endpoint {
        name: domain.to_string(),
        api_host,
        insecure: listed || is_local(domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_maps_to_registry_1() {
        let e = endpoint("docker.io", &[]);
        assert_eq!(e.api_host, "registry-1.docker.io");
        assert!(!e.insecure);
    }

    #[test]
    fn loopback_is_insecure_by_default_but_names_are_not() {
        assert!(endpoint("localhost:5000", &[]).insecure);
        assert!(endpoint("127.0.0.1:5000", &[]).insecure);
        assert!(endpoint("127.8.9.10", &[]).insecure);
        assert!(!endpoint("registry.test:5000", &[]).insecure);
        assert!(!endpoint("10.0.0.1:5000", &[]).insecure);
    }

    #[test]
    fn insecure_registry_list() {
        let l = vec!["registry.test:5000".to_string(), "10.1.0.0/16".to_string()];
        assert!(endpoint("registry.test:5000", &l).insecure);
        assert!(!endpoint("registry.test:5001", &l).insecure);
        assert!(endpoint("10.1.2.3:443", &l).insecure);
        assert!(!endpoint("10.2.0.1", &l).insecure);
        assert!(endpoint("other:1", &["other".to_string()]).insecure);
    }
}
