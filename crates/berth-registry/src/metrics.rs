//! Counters exported at `/metrics` in the Prometheus text format. Hand-written (a handful
//! of atomics and one map) rather than pulling a metrics framework for five series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Registry metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub uploads_in_flight: AtomicU64,
    pub blobs_committed: AtomicU64,
    pub manifests_pushed: AtomicU64,
    pub in_flight: AtomicU64,
    /// Blob GET/HEAD answers written on the socket by the plain-HTTP fast path (`fastpath.rs`).
    pub direct_responses: AtomicU64,
}

impl Metrics {
    pub fn request(&self, method: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), status)).or_default() += 1;
        }
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP registry_http_requests_total HTTP requests by method and status.\n# TYPE registry_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, code), n) in m.iter() {
                let _ = writeln!(
                    s,
                    "registry_http_requests_total{{method=\"{method}\",code=\"{code}\"}} {n}"
                );
            }
        }
        for (name, help, kind, v) in [
            (
                "registry_bytes_received_total",
                "Blob bytes received.",
                "counter",
                &self.bytes_received,
            ),
            (
                "registry_bytes_sent_total",
                "Blob bytes sent.",
                "counter",
                &self.bytes_sent,
            ),
            (
                "registry_uploads_in_flight",
                "Blob upload requests being received.",
                "gauge",
                &self.uploads_in_flight,
            ),
            (
                "registry_blobs_committed_total",
                "Blob uploads completed.",
                "counter",
                &self.blobs_committed,
            ),
            (
                "registry_manifests_pushed_total",
                "Manifests stored.",
                "counter",
                &self.manifests_pushed,
            ),
            (
                "registry_http_direct_responses_total",
                "Blob GET/HEAD answers written on the socket by the fast path instead of by hyper.",
                "counter",
                &self.direct_responses,
            ),
            (
                "registry_http_in_flight_requests",
                "Requests being served.",
                "gauge",
                &self.in_flight,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.request("GET", 200);
        m.request("GET", 200);
        m.bytes_sent.fetch_add(42, Relaxed);
        let t = m.render();
        assert!(
            t.contains("registry_http_requests_total{method=\"GET\",code=\"200\"} 2"),
            "{t}"
        );
        assert!(t.contains("registry_bytes_sent_total 42"), "{t}");
    }
}
