//! Progress reporting in docker's own wire format (`jsonmessage.JSONMessage`), so the
//! real `docker pull`/`docker push` draw their progress bars from berth's stream, and
//! berth's CLI can draw its own from the same messages.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// `progressDetail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    pub message: String,
}

/// One line of a pull/push response stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JsonMessage {
    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }
}

/// docker's `units.HumanSize`: decimal units, four significant digits.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // %.4g: four significant digits, trailing zeros dropped.
    let digits_before = if v < 1.0 {
        1
    } else {
        v.log10().floor() as usize + 1
    };
    let prec = 4usize.saturating_sub(digits_before);
    let t = format!("{v:.prec$}");
    let s = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    };
    format!("{s}{}", UNITS[i])
}

/// docker's progress bar text: `[=====>      ]  1.2MB/4.5MB`.
pub fn bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let filled = (WIDTH * current.min(total) / total).min(WIDTH);
    let mut b = "=".repeat(filled as usize);
    if filled < WIDTH {
        b.push('>');
        b.push_str(&" ".repeat((WIDTH - filled - 1) as usize));
    }
    format!("[{b}] {:>8}/{}", human_size(current), human_size(total))
}

/// Where progress goes: a channel the API streams out, or nowhere. Byte progress is
/// throttled per id so a fast transfer does not flood the client.
#[derive(Default)]
pub struct Progress {
    tx: Option<UnboundedSender<JsonMessage>>,
    last: Mutex<HashMap<String, Instant>>,
}

const MIN_INTERVAL: Duration = Duration::from_millis(100);

impl Progress {
    pub fn new(tx: UnboundedSender<JsonMessage>) -> Progress {
        Progress {
            tx: Some(tx),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Progress that goes nowhere.
    pub fn none() -> Progress {
        Progress::default()
    }

    pub fn send(&self, m: JsonMessage) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }

    /// A plain status line (`Digest: sha256:…`).
    pub fn line(&self, status: impl Into<String>) {
        self.send(JsonMessage {
            status: Some(status.into()),
            ..Default::default()
        });
    }

    /// A per-id status (`Pull complete`, `Waiting`…).
    pub fn status(&self, id: &str, status: &str) {
        self.send(JsonMessage {
            status: Some(status.into()),
            progress_detail: Some(ProgressDetail::default()),
            id: Some(id.into()),
            ..Default::default()
        });
    }

    /// A byte count (`Downloading`, `Pushing`, `Extracting`), throttled unless final.
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        if self.tx.is_none() {
            return;
        }
        let last_one = current >= total && total > 0;
        if !last_one {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match last.get(id) {
                Some(t) if now.duration_since(*t) < MIN_INTERVAL => return,
                _ => {
                    last.insert(id.to_string(), now);
                }
            }
        }
        self.send(JsonMessage {
            status: Some(status.into()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: (total > 0).then_some(total),
            }),
            progress: Some(bar(current, total)),
            id: Some(id.into()),
            ..Default::default()
        });
    }

    pub fn aux(&self, v: serde_json::Value) {
        self.send(JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(v),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(52_400_000), "52.4MB");
        assert_eq!(human_size(200_000_000), "200MB");
    }

    #[test]
    fn bar_fills_proportionally() {
        let b = bar(25, 100);
        assert!(b.starts_with("[============>"), "{b}");
        assert!(b.ends_with("25B/100B"), "{b}");
        assert!(bar(100, 100).starts_with(&format!("[{}]", "=".repeat(50))));
    }

    #[test]
    fn messages_serialize_in_docker_shape() {
        let m = JsonMessage {
            status: Some("Downloading".into()),
            progress_detail: Some(ProgressDetail {
                current: Some(1),
                total: Some(2),
            }),
            id: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}"#
        );
        let e = JsonMessage::error("boom");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#
        );
    }
}
