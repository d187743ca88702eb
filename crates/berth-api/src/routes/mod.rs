//! The route table.

mod build;
mod container_fs;
mod container_ops;
mod containers;
mod dist;
mod events;
mod images;
mod networks;
mod system;
mod volumes;

use crate::AppState;
use axum::routing::{get, post};
use axum::Router;

/// Docker's boolean query values: `1`, `true`, `True`…
pub(crate) fn truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("1") | Some("true") | Some("yes")
    )
}

/// Query string as key → last value (use [`multi`] for repeated keys).
pub(crate) type Q = axum::extract::Query<std::collections::HashMap<String, String>>;

/// Every value of a repeated query key.
pub(crate) fn multi(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/auth", post(dist::auth))
        .route("/events", get(events::events))
        .route("/berth/system/check", get(system::check))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/system/df", get(system::df))
        .route("/berth/build/contexts/{key}", get(build::context_stamps))
        .route("/commit", post(build::commit))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*rest}",
            get(images::by_name_get)
                .post(images::by_name_post)
                .delete(images::remove),
        )
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(container_ops::prune))
        .route("/containers/{id}/rename", post(container_ops::rename))
        .route("/containers/{id}/update", post(container_ops::update))
        .route("/containers/{id}/top", get(container_ops::top))
        .route(
            "/containers/{id}/archive",
            get(container_fs::archive_get)
                .head(container_fs::archive_head)
                .put(container_fs::archive_put),
        )
        .route("/containers/{id}/export", get(container_fs::export))
        .route("/containers/{id}/stats", get(container_ops::stats))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/exec", post(containers::exec_create))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/exec/{id}/start", post(containers::exec_start))
        .route("/exec/{id}/json", get(containers::exec_inspect))
        .route("/exec/{id}/resize", post(containers::exec_resize))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .fallback(system::not_found)
        .with_state(state)
}
