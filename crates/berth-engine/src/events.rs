//! The daemon's event log: every container, image, network and volume change is
//! published here, kept in a bounded ring (for `events --since`) and broadcast to live
//! `GET /events` streams.
//!
//! Docker keeps the last 256 events in memory and does not persist them; berth does the
//! same, with a larger ring.

use crate::filters::Filters;
use bollard_stubs::models::{
    EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum,
};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// How many past events `since` can reach back to.
const RING: usize = 1024;

/// Publisher and buffer of events.
pub struct Events {
    tx: broadcast::Sender<EventMessage>,
    ring: Mutex<VecDeque<EventMessage>>,
}

impl Default for Events {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(RING);
        Events {
            tx,
            ring: Mutex::new(VecDeque::with_capacity(RING)),
        }
    }
}

impl Events {
    /// Records and broadcasts one event.
    pub fn emit(
        &self,
        typ: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let msg = EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(attributes),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(now.timestamp()),
            time_nano: Some(nanos),
        };
        tracing::debug!(?typ, action, id, "event");
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(msg.clone());
        }
        let _ = self.tx.send(msg);
    }

    /// The buffered events at or after `since_nanos`, and a receiver for what comes next.
    /// Subscribing under the ring lock means no event is missed or seen twice.
    pub fn subscribe(
        &self,
        since_nanos: i64,
    ) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = ring
            .iter()
            .filter(|e| e.time_nano.unwrap_or(0) >= since_nanos)
            .cloned()
            .collect();
        (past, rx)
    }
}

/// Whether an event passes `filters` (docker's keys: `type`, `event`/`action`,
/// `container`, `image`, `label`, `network`, `volume`).
pub fn matches(f: &Filters, e: &EventMessage) -> bool {
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = e.action.clone().unwrap_or_default();
    let id = e
        .actor
        .as_ref()
        .and_then(|a| a.id.clone())
        .unwrap_or_default();
    let empty = HashMap::new();
    let attrs = e
        .actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .unwrap_or(&empty);
    if f.contains("type") && !f.get("type").contains(&typ) {
        return false;
    }
    let actions: Vec<&String> = f.get("event").iter().chain(f.get("action")).collect();
    // `exec_start: sh` matches the filter `exec_start`.
    let base = action.split(':').next().unwrap_or("").trim();
    if !actions.is_empty() && !actions.iter().any(|a| **a == action || *a == base) {
        return false;
    }
    let by_object = |key: &str, want_type: &str| {
        if !f.contains(key) {
            return true;
        }
        typ == want_type
            && f.get(key)
                .iter()
                .any(|v| id.starts_with(v.as_str()) || attrs.get("name").is_some_and(|n| n == v))
    };
    if !by_object("container", "container")
        || !by_object("network", "network")
        || !by_object("volume", "volume")
    {
        return false;
    }
    if f.contains("image") {
        let ok = f.get("image").iter().any(|v| {
            attrs.get("image").is_some_and(|i| i == v)
                || (typ == "image" && (id == *v || attrs.get("name").is_some_and(|n| n == v)))
        });
        if !ok {
            return false;
        }
    }
    let labels: std::collections::BTreeMap<String, String> =
        attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    f.labels_match(&labels)
}

/// The wire form: the modern fields plus docker's legacy `status`/`id`/`from`, which old
/// clients (and docker-py) still read.
pub fn wire(e: &EventMessage) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    if typ == "container" || typ == "image" {
        if let Some(obj) = v.as_object_mut() {
            let actor = e.actor.clone().unwrap_or_default();
            obj.insert("status".into(), e.action.clone().unwrap_or_default().into());
            obj.insert("id".into(), actor.id.clone().unwrap_or_default().into());
            if let Some(img) = actor.attributes.as_ref().and_then(|a| a.get("image")) {
                obj.insert("from".into(), img.clone().into());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ring_since_and_live_subscription() {
        let ev = Events::default();
        ev.emit(EventMessageTypeEnum::CONTAINER, "create", "aaa", attrs(&[]));
        let (past, _) = ev.subscribe(0);
        let t = past[0].time_nano.unwrap();
        ev.emit(EventMessageTypeEnum::CONTAINER, "start", "aaa", attrs(&[]));
        let (past, mut rx) = ev.subscribe(t + 1);
        assert!(past.iter().all(|e| e.time_nano.unwrap() > t));
        ev.emit(EventMessageTypeEnum::CONTAINER, "die", "aaa", attrs(&[]));
        assert_eq!(rx.try_recv().unwrap().action.as_deref(), Some("die"));
    }

    #[test]
    fn filters_by_type_action_container_and_label() {
        let ev = Events::default();
        ev.emit(
            EventMessageTypeEnum::CONTAINER,
            "exec_start: sh -c true",
            "abcdef",
            attrs(&[("name", "web"), ("image", "busybox"), ("tier", "front")]),
        );
        let (past, _) = ev.subscribe(0);
        let e = &past[0];
        let f = |s: &str| Filters::parse(Some(s)).unwrap();
        assert!(matches(&f(r#"{"type":["container"]}"#), e));
        assert!(!matches(&f(r#"{"type":["image"]}"#), e));
        assert!(matches(&f(r#"{"event":["exec_start"]}"#), e));
        assert!(!matches(&f(r#"{"event":["start"]}"#), e));
        assert!(matches(&f(r#"{"container":["web"]}"#), e));
        assert!(matches(&f(r#"{"container":["abc"]}"#), e));
        assert!(!matches(&f(r#"{"container":["db"]}"#), e));
        assert!(matches(&f(r#"{"image":["busybox"]}"#), e));
        assert!(matches(&f(r#"{"label":["tier=front"]}"#), e));
        assert!(!matches(&f(r#"{"label":["tier=back"]}"#), e));
        let w = wire(e);
        assert_eq!(w["status"], "exec_start: sh -c true");
        assert_eq!(w["from"], "busybox");
        assert_eq!(w["Actor"]["ID"], "abcdef");
    }
}
