//! Listing and inspecting containers, and where their logs are.

use super::*;
use bollard_stubs::models::NetworkSettings;

impl Engine {
    /// `GET /containers/json`.
    pub fn container_list(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        filters.only(&[
            "status", "name", "id", "label", "ancestor", "exited", "before", "since",
        ])?;
        let mut recs: Vec<ContainerRecord> = self
            .containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| c.snapshot())
            .collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let mut out = Vec::new();
        for r in recs {
            let running = matches!(r.state.status.as_str(), "running" | "paused");
            if !all && !running && !filters.contains("status") && !filters.contains("exited") {
                continue;
            }
            if filters.contains("status") && !filters.get("status").contains(&r.state.status) {
                continue;
            }
            if filters.contains("name")
                && !filters
                    .get("name")
                    .iter()
                    .any(|n| r.name.contains(n.trim_start_matches('/')))
            {
                continue;
            }
            if filters.contains("id")
                && !filters
                    .get("id")
                    .iter()
                    .any(|i| r.id.starts_with(i.as_str()))
            {
                continue;
            }
            if filters.contains("exited")
                && (r.state.status != "exited"
                    || !filters
                        .get("exited")
                        .iter()
                        .any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code)))
            {
                continue;
            }
            let labels: std::collections::BTreeMap<String, String> = r
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            if filters.contains("ancestor") {
                let ok = filters.get("ancestor").iter().any(|a| {
                    a == &r.image_ref
                        || self
                            .store
                            .resolve(a)
                            .map(|i| i.id.to_string() == r.image)
                            .unwrap_or(false)
                });
                if !ok {
                    continue;
                }
            }
            out.push(self.with_net_summary(&r, summary(&r)));
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /containers/{id}/json`.
    pub fn container_inspect(&self, name: &str) -> Result<ContainerInspectResponse> {
        let r = self.container(name)?.snapshot();
        let dir = self.ctr_dir(&r.id);
        let mut gd = HashMap::new();
        gd.insert(
            "LowerDir".to_string(),
            r.lower
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        );
        gd.insert(
            "UpperDir".to_string(),
            dir.join("upper").display().to_string(),
        );
        gd.insert(
            "WorkDir".to_string(),
            dir.join("work").display().to_string(),
        );
        gd.insert(
            "MergedDir".to_string(),
            dir.join("bundle/rootfs").display().to_string(),
        );
        let sandbox = {
            use sha2_free::hash_hex;
            hash_hex(&r.id)
        };
        Ok(ContainerInspectResponse {
            id: Some(r.id.clone()),
            created: Some(r.created.clone()),
            path: Some(r.path.clone()),
            args: Some(r.args.clone()),
            state: Some(state(&r)),
            image: Some(r.image.clone()),
            resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
            hostname_path: Some(dir.join("hostname").display().to_string()),
            hosts_path: Some(dir.join("hosts").display().to_string()),
            log_path: Some(self.log_path(&r.id).display().to_string()),
            name: Some(format!("/{}", r.name)),
            restart_count: Some(r.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            host_config: Some(r.host_config.clone()),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: gd,
            }),
            mounts: Some(Self::mount_points(&r)),
            config: Some(r.config.clone()),
            network_settings: Some(NetworkSettings {
                sandbox_id: Some(sandbox),
                ..self.net_settings(&r)
            }),
            ..Default::default()
        })
    }

    /// Path of the json-file log and whether the container has a tty.
    pub fn container_log_info(&self, name: &str) -> Result<(PathBuf, bool, Arc<Ctr>)> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        Ok((self.log_path(&r.id), r.config.tty.unwrap_or(false), ctr))
    }
}
