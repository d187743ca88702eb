//! Networks: the default bridge, user-defined bridge networks, `host` and `none`; the
//! endpoints that attach containers to them (address, veth, published ports); links and
//! the embedded DNS. Records live in the store (`networks`, `endpoints` — the endpoints
//! are the IPAM state); the kernel side is made by `berth-net`.
//!
//! A container on a bridge network joins a namespace pinned at
//! `<exec-root>/netns/<id>`, made before its shim starts and removed with the container,
//! so its veth, address and published ports survive restarts of the container and of the
//! daemon.

use crate::containers::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::filters::Filters;
use crate::Engine;
use berth_net::dns::{DnsServer, Names};
use berth_net::firewall::{FirewallDriver, NetworkRules, Nft, PortRule, Proto};
use berth_net::ipam;
use berth_net::link::{mac_for, mac_string, Links};
use berth_net::owner::Owner;
use berth_net::ports::{parse_port_key, reserve, Reservation};
use berth_net::NetError;
use berth_runtime::config::{EtcFiles, NetworkMode};
use berth_store::RecordTable;
use bollard_stubs::models::{
    EndpointIpamConfig, EndpointResource, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse, NetworkSettings,
    NetworkingConfig, PortBinding, PortMap,
};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A network as berth remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<Ipv4Net>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// The bridge's interface name.
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
    /// The predefined `bridge`, `host` and `none` networks (no DNS, cannot be removed).
    #[serde(default)]
    pub predefined: bool,
}

/// A container's attachment to one network (its address is the IPAM state).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub container: String,
    pub network: String,
    /// Order of attachment: the first endpoint carries the default route.
    pub order: u32,
    pub endpoint_id: String,
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Requested with `--ip`.
    #[serde(default)]
    pub fixed_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Host end of the veth pair.
    pub veth: String,
    /// Interface name inside the container.
    pub ifname: String,
    /// Published ports (on the first endpoint).
    #[serde(default)]
    pub ports: Vec<PortRule>,
}

fn ep_key(ctr: &str, net: &str) -> String {
    format!("{ctr}/{net}")
}

/// Daemon options for networking.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// `--bip`: the default bridge's gateway address and prefix (`172.30.0.1/16`).
    pub bip: Option<String>,
    /// `--default-address-pool base=…,size=…`.
    pub pools: Vec<String>,
    /// `--bridge none`: no default bridge (containers get `none`).
    pub no_bridge: bool,
}

struct NetHost {
    links: Links,
    fw: Arc<dyn FirewallDriver>,
    alias: String,
    pools: Vec<(Ipv4Net, u8)>,
}

/// The names the DNS servers answer, per server address.
#[derive(Default)]
struct DnsNames(Mutex<HashMap<Ipv4Addr, HashMap<String, Vec<Ipv4Addr>>>>);

impl Names for DnsNames {
    fn lookup(&self, server: Ipv4Addr, name: &str) -> Option<Vec<Ipv4Addr>> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&server)?.get(name).cloned()
    }
}

/// The engine's networking state.
#[derive(Default)]
pub struct Networking {
    host: OnceLock<NetHost>,
    reservations: Mutex<HashMap<String, Vec<Reservation>>>,
    dns: Mutex<HashMap<String, DnsServer>>,
    names: Arc<DnsNames>,
    /// Serializes changes to the kernel side (FIFO, so a teardown queued by a removal
    /// runs before any later network change).
    op: Arc<tokio::sync::Mutex<()>>,
    /// Serializes address allocation (creates run on blocking threads in parallel).
    ipam: Mutex<()>,
    /// Namespaces prepared ahead on the default bridge (veth plugged, `eth0` inside).
    spares: Mutex<Vec<Spare>>,
    /// The last address handed out per network (allocation goes round-robin).
    last_ip: Mutex<HashMap<String, Ipv4Addr>>,
    filling: std::sync::atomic::AtomicBool,
    /// Background releases under way (container ID → set to true when done), for
    /// [`Engine::net_released`].
    releasing: Mutex<HashMap<String, tokio::sync::watch::Receiver<bool>>>,
}

/// A namespace made ahead of time for the default bridge: starting a container then
/// only moves it into place, renames the host end and sets the address and route.
#[derive(Debug)]
struct Spare {
    netns: PathBuf,
    /// Host end of the veth (named `vsp…` until taken).
    veth: String,
}

/// How many spare namespaces the default bridge keeps ready.
const SPARES: usize = 2;

fn net_err(e: NetError) -> EngineError {
    match e {
        NetError::Conflict(m) => EngineError::Conflict(m),
        NetError::Invalid(m) => EngineError::BadRequest(m),
        other => EngineError::Internal(other.to_string()),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// `--link` values: `name:alias`, `name`, or the daemon's own `/name:/ctr/alias` form.
fn parse_link(l: &str) -> (String, String) {
    let (n, a) = l.split_once(':').unwrap_or((l, l));
    let n = n.trim_start_matches('/').to_string();
    let a = a.rsplit('/').next().unwrap_or(a).to_string();
    (n, a)
}

impl Engine {
    fn netns_path(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("netns")
            .join(&id[..id.len().min(16)])
    }

    pub(crate) fn network_records(&self) -> Result<Vec<NetworkRecord>> {
        let mut v: Vec<NetworkRecord> = self
            .store
            .records(RecordTable::Networks)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect();
        v.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(v)
    }

    fn put_network(&self, n: &NetworkRecord) -> Result<()> {
        let b = serde_json::to_vec(n).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_record(RecordTable::Networks, &n.id, &b)?;
        Ok(())
    }

    fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        let mut v: Vec<EndpointRecord> = self
            .store
            .records(RecordTable::Endpoints)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect();
        v.sort_by_key(|e| e.order);
        Ok(v)
    }

    fn endpoints_of(&self, ctr: &str) -> Result<Vec<EndpointRecord>> {
        Ok(self
            .endpoints()?
            .into_iter()
            .filter(|e| e.container == ctr)
            .collect())
    }

    fn put_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let b = serde_json::to_vec(e).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_record(
            RecordTable::Endpoints,
            &ep_key(&e.container, &e.network),
            &b,
        )?;
        Ok(())
    }

    /// Finds a network by full ID, name, or unique ID prefix.
    pub fn network_find(&self, name: &str) -> Result<NetworkRecord> {
        let nets = self.network_records()?;
        if let Some(n) = nets.iter().find(|n| n.id == name) {
            return Ok(n.clone());
        }
        if let Some(n) = nets.iter().find(|n| n.name == name) {
            return Ok(n.clone());
        }
        let hits: Vec<&NetworkRecord> = nets
            .iter()
            .filter(|n| !name.is_empty() && n.id.starts_with(name))
            .collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            _ => Err(EngineError::NotFound(format!("network {name} not found"))),
        }
    }

    fn host_net(&self) -> Option<&NetHost> {
        self.net.host.get()
    }

    fn default_bridge(&self) -> Option<NetworkRecord> {
        self.network_records()
            .ok()?
            .into_iter()
            .find(|n| n.predefined && n.driver == "bridge")
    }

    /// At daemon start: sweeps what dead daemons left, creates or restores the
    /// predefined networks and every bridge, and starts the DNS servers. Failure leaves
    /// networking off (containers then get a private namespace with only `lo`).
    pub async fn init_networks(self: &Arc<Self>, opts: NetOptions) -> Result<()> {
        if let Err(e) = self.init_networks_inner(&opts).await {
            tracing::error!("networking disabled: {e}");
            return Err(e);
        }
        Ok(())
    }

    async fn init_networks_inner(self: &Arc<Self>, opts: &NetOptions) -> Result<()> {
        let links = Links::host().map_err(net_err)?;
        let owner = Owner::new(self.data_root().display().to_string(), std::process::id());
        let root = owner.root.clone();
        // Until this daemon's bridge and table exist, marked as its own, no other daemon
        // on the host sweeps, picks a bridge name or makes a table (see berth_net::owner).
        let host_lock = berth_net::host_lock().map_err(net_err)?;
        let swept = berth_net::owner::sweep(&links, &owner).await;
        if swept != Default::default() {
            tracing::info!(links = ?swept.links, tables = ?swept.tables, "swept what gone daemons left");
        }
        let tables = Nft::list_tables().unwrap_or_default();
        // A table is another daemon's when its comment names another data root.
        let foreign_table = |name: &str| {
            tables.iter().any(|t| {
                t.name == name
                    && t.comment
                        .as_deref()
                        .and_then(berth_net::owner::parse_table_comment)
                        .is_some_and(|r| r != root)
            })
        };
        let mut pools = Vec::new();
        for p in &opts.pools {
            pools.push(ipam::parse_pool(p).map_err(EngineError::BadRequest)?);
        }
        if pools.is_empty() {
            pools = ipam::default_pools();
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !self.network_records()?.iter().any(|n| n.name == name) {
                self.put_network(&NetworkRecord {
                    id: hex::encode(rand::random::<[u8; 32]>()),
                    name: name.into(),
                    driver: driver.into(),
                    created: berth_store::now_rfc3339(),
                    subnet: None,
                    gateway: None,
                    bridge: String::new(),
                    internal: false,
                    labels: HashMap::new(),
                    options: HashMap::new(),
                    predefined: true,
                })?;
            }
        }
        // The default bridge is kept while its link is missing (made again) or ours; one
        // taken by another daemon since (after a clean stop removed ours) is replaced
        // under the same network ID.
        let mut previous = self.default_bridge();
        if let Some(d) = &previous {
            let taken = match links.get(&d.bridge).await.map_err(net_err)? {
                Some(l) => {
                    berth_net::owner::parse_alias(&l.alias).map(|a| a.2) != Some(root.as_str())
                }
                None => false,
            } || foreign_table(&d.bridge);
            if d.bridge.is_empty() || taken {
                previous = None;
            }
        }
        let previous_id = self.default_bridge().map(|d| d.id);
        let (table, default) = match previous {
            Some(d) => (d.bridge.clone(), Some(d)),
            None if opts.no_bridge => (
                format!("berthx{}", &hex::encode(rand::random::<[u8; 3]>())),
                None,
            ),
            None => {
                // A name is free when neither a link nor a table has it (a table left
                // behind by a daemon is not adopted with its rules and port maps).
                let names: HashSet<String> = links
                    .list()
                    .await
                    .map_err(net_err)?
                    .into_iter()
                    .map(|l| l.name)
                    .chain(tables.iter().map(|t| t.name.clone()))
                    .collect();
                let name = (0..)
                    .map(|i| format!("berth{i}"))
                    .find(|n| !names.contains(n))
                    .unwrap_or_else(|| "berth0".into());
                let (subnet, gw) = match &opts.bip {
                    Some(b) => {
                        let net: Ipv4Net = b.parse().map_err(|e| {
                            EngineError::BadRequest(format!("invalid --bip {b:?}: {e}"))
                        })?;
                        (net.trunc(), net.addr())
                    }
                    None => {
                        let s = ipam::pick_subnet(&pools, &ipam::host_routes()).ok_or_else(
                            || {
                                EngineError::Conflict(
                                    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                                )
                            },
                        )?;
                        (s, ipam::first_host(&s))
                    }
                };
                let alias = owner.link_alias(&name);
                links
                    .ensure_bridge(&name, gw, subnet.prefix_len(), &alias)
                    .await
                    .map_err(net_err)?;
                let rec = NetworkRecord {
                    id: previous_id.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>())),
                    name: "bridge".into(),
                    driver: "bridge".into(),
                    created: berth_store::now_rfc3339(),
                    subnet: Some(subnet),
                    gateway: Some(gw),
                    bridge: name.clone(),
                    internal: false,
                    labels: HashMap::new(),
                    options: HashMap::from([(
                        "com.docker.network.bridge.name".to_string(),
                        name.clone(),
                    )]),
                    predefined: true,
                };
                self.put_network(&rec)?;
                (name, Some(rec))
            }
        };
        let _ = default;
        let fw: Arc<dyn FirewallDriver> =
            Arc::new(Nft::new(&table).with_comment(Some(owner.table_comment())));
        fw.setup_base().map_err(net_err)?;
        drop(host_lock);
        let _ = self.net.host.set(NetHost {
            links,
            fw,
            alias: owner.link_alias(&table),
            pools,
        });
        for n in self.network_records()? {
            if n.driver == "bridge" {
                self.bridge_up(&n).await?;
            }
        }
        self.restore_ports();
        self.rebuild_dns();
        self.drop_spares().await;
        self.fill_spares();
        Ok(())
    }

    /// Makes a bridge network's kernel side exist: bridge, firewall rules, DNS server.
    async fn bridge_up(&self, n: &NetworkRecord) -> Result<()> {
        let Some(h) = self.host_net() else {
            return Ok(());
        };
        let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
            return Ok(());
        };
        h.links
            .ensure_bridge(&n.bridge, gw, subnet.prefix_len(), &h.alias)
            .await
            .map_err(net_err)?;
        h.fw.setup_network(&NetworkRules {
            bridge: n.bridge.clone(),
            subnet,
            internal: n.internal,
        })
        .map_err(net_err)?;
        if !n.predefined {
            let upstreams = berth_net::dns::host_resolvers();
            match berth_net::dns::spawn(gw, 53, self.net.names.clone(), upstreams).await {
                Ok(s) => {
                    self.net
                        .dns
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(n.id.clone(), s);
                }
                Err(e) => tracing::warn!(network = %n.name, "embedded DNS not started: {e}"),
            }
        }
        Ok(())
    }

    async fn bridge_down(&self, n: &NetworkRecord) -> Result<()> {
        self.net
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
        let Some(h) = self.host_net() else {
            return Ok(());
        };
        if let Some(subnet) = n.subnet {
            h.fw.teardown_network(&NetworkRules {
                bridge: n.bridge.clone(),
                subnet,
                internal: n.internal,
            })
            .map_err(net_err)?;
        }
        h.links.delete(&n.bridge).await.map_err(net_err)
    }

    /// At a clean daemon stop: removes the spare namespaces (always: they belong to no
    /// container), and with no container running also the bridges and the firewall table
    /// (they are made again at the next start).
    pub async fn shutdown_networks(&self) {
        let Some(h) = self.host_net() else {
            return;
        };
        self.drop_spares().await;
        if self
            .all_records()
            .iter()
            .any(|r| matches!(r.state.status.as_str(), "running" | "paused"))
        {
            return;
        }
        for r in self.all_records() {
            self.net_teardown(&r, true).await;
        }
        for mut n in self.network_records().unwrap_or_default() {
            if n.driver == "bridge" {
                let _ = self.bridge_down(&n).await;
                if n.predefined {
                    // Chosen again at the next start (the name may be taken by then).
                    n.bridge.clear();
                    let _ = self.put_network(&n);
                }
            }
        }
        let _ = h.fw.teardown_base();
    }

    /// After a daemon restart: re-holds the host ports of running containers and
    /// unpublishes those of containers that stopped meanwhile.
    fn restore_ports(&self) {
        for r in self.all_records() {
            if matches!(r.state.status.as_str(), "running" | "paused") {
                self.net_restore_ports(&r);
            } else {
                self.net_unpublish(&r);
            }
        }
    }

    /// When a container stops: its published ports are freed (DNAT entries and held
    /// host ports), as Docker does; the next start publishes them again.
    pub(crate) fn net_unpublish(&self, rec: &ContainerRecord) {
        let Some(h) = self.host_net() else {
            return;
        };
        self.net
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        for mut ep in self.endpoints_of(&rec.id).unwrap_or_default() {
            if ep.ports.is_empty() {
                continue;
            }
            for p in &ep.ports {
                if let Err(e) = h.fw.teardown_port(p) {
                    tracing::warn!(container = %rec.id, "unpublishing port: {e}");
                }
            }
            ep.ports.clear();
            let _ = self.put_endpoint(&ep);
        }
    }

    /// Rebuilds the names each DNS server answers: container names, short IDs,
    /// hostnames and aliases of the endpoints on its network.
    fn rebuild_dns(&self) {
        let Ok(nets) = self.network_records() else {
            return;
        };
        let Ok(eps) = self.endpoints() else {
            return;
        };
        let recs: HashMap<String, ContainerRecord> = self
            .all_records()
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out: HashMap<Ipv4Addr, HashMap<String, Vec<Ipv4Addr>>> = HashMap::new();
        for n in nets
            .iter()
            .filter(|n| !n.predefined && n.driver == "bridge")
        {
            let Some(gw) = n.gateway else { continue };
            let m = out.entry(gw).or_default();
            for e in eps.iter().filter(|e| e.network == n.id) {
                let (Some(ip), Some(r)) = (e.ip, recs.get(&e.container)) else {
                    continue;
                };
                let mut names = vec![r.name.clone(), short(&r.id).to_string()];
                names.extend(e.aliases.iter().cloned());
                for nm in names {
                    let v = m.entry(nm.to_ascii_lowercase()).or_default();
                    if !v.contains(&ip) {
                        v.push(ip);
                    }
                }
            }
        }
        // --link on a user network: the alias resolves for the linking container's
        // network too (Docker scopes it to the linker; berth answers it network-wide).
        for r in recs.values() {
            for l in r.host_config.links.clone().unwrap_or_default() {
                let (target, alias) = parse_link(&l);
                let Some(t) = recs.values().find(|x| x.name == target || x.id == target) else {
                    continue;
                };
                for e in eps.iter().filter(|e| e.container == r.id) {
                    let Some(n) = nets.iter().find(|n| n.id == e.network && !n.predefined) else {
                        continue;
                    };
                    let (Some(gw), Some(tip)) = (
                        n.gateway,
                        eps.iter()
                            .find(|x| x.container == t.id && x.network == n.id)
                            .and_then(|x| x.ip),
                    ) else {
                        continue;
                    };
                    out.entry(gw)
                        .or_default()
                        .entry(alias.to_ascii_lowercase())
                        .or_insert_with(|| vec![tip]);
                }
            }
        }
        *self.net.names.0.lock().unwrap_or_else(|p| p.into_inner()) = out;
    }

    // ---- containers ----

    /// At create: checks the network mode and records the container's endpoints (the
    /// addresses are allocated at first start).
    pub(crate) fn net_create_endpoints(
        &self,
        id: &str,
        hc: &HostConfig,
        nc: Option<&NetworkingConfig>,
    ) -> Result<()> {
        let mode = hc.network_mode.clone().unwrap_or_else(|| "bridge".into());
        let eps_cfg = nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let mut wanted: Vec<(NetworkRecord, Option<EndpointSettings>)> = Vec::new();
        match mode.as_str() {
            "host" | "none" => {}
            m if m.starts_with("container:") => {
                let target = &m["container:".len()..];
                self.container(target)?;
            }
            m => {
                let name = if m == "default" { "bridge" } else { m };
                let n = match self.network_find(name) {
                    // `--bridge none` or networking unavailable: no default bridge,
                    // containers get only `lo`.
                    Err(_) if name == "bridge" => return Ok(()),
                    Ok(n) if n.predefined && self.host_net().is_none() => return Ok(()),
                    r => r?,
                };
                if n.driver == "host" || n.driver == "null" {
                    return Ok(());
                }
                let cfg = eps_cfg.get(m).or_else(|| eps_cfg.get(&n.name)).cloned();
                wanted.push((n, cfg));
                for (k, v) in &eps_cfg {
                    if k == m {
                        continue;
                    }
                    let n2 = self.network_find(k)?;
                    if n2.driver == "bridge" && n2.id != wanted[0].0.id {
                        wanted.push((n2, Some(v.clone())));
                    }
                }
            }
        }
        // Port specs are checked now so a bad one fails the create.
        for k in hc.port_bindings.clone().unwrap_or_default().keys() {
            parse_port_key(k).map_err(net_err)?;
        }
        for (i, (n, cfg)) in wanted.into_iter().enumerate() {
            let cfg = cfg.unwrap_or_default();
            let fixed_ip = cfg
                .ipam_config
                .as_ref()
                .and_then(|c| c.ipv4_address.clone())
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| EngineError::BadRequest(format!("invalid IPv4 address: {s}")))
                })
                .transpose()?;
            if n.predefined
                && (fixed_ip.is_some() || cfg.aliases.as_ref().is_some_and(|a| !a.is_empty()))
            {
                return Err(EngineError::BadRequest(
                    "network-scoped alias and user specified IP addresses are supported only for user defined networks".into(),
                ));
            }
            // The address is allocated (and persisted) now, so starting the container
            // writes nothing to the database.
            let mut ep =
                self.new_endpoint(id, &n, i as u32, fixed_ip, cfg.aliases.unwrap_or_default());
            if self.host_net().is_some() {
                self.allocate_ip(&n, &mut ep)?;
            } else {
                self.put_endpoint(&ep)?;
            }
        }
        Ok(())
    }

    fn new_endpoint(
        &self,
        id: &str,
        n: &NetworkRecord,
        order: u32,
        fixed_ip: Option<Ipv4Addr>,
        aliases: Vec<String>,
    ) -> EndpointRecord {
        let tag = berth_oci::Digest::sha256_of(format!("{id}/{}", n.id).as_bytes())
            .hex()
            .to_string();
        EndpointRecord {
            container: id.to_string(),
            network: n.id.clone(),
            order,
            endpoint_id: hex::encode(rand::random::<[u8; 32]>()),
            ip: None,
            fixed_ip,
            aliases,
            veth: format!("veth{}", &tag[..7]),
            ifname: format!("eth{order}"),
            ports: Vec::new(),
        }
    }

    /// Allocates an address on `n` for `ep` (persisted).
    fn allocate_ip(&self, n: &NetworkRecord, ep: &mut EndpointRecord) -> Result<Ipv4Addr> {
        if let Some(ip) = ep.ip {
            return Ok(ip);
        }
        let _g = self.net.ipam.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
            return Err(EngineError::Internal(format!(
                "network {} has no subnet",
                n.name
            )));
        };
        let used: HashSet<Ipv4Addr> = self
            .endpoints()?
            .into_iter()
            .filter(|e| e.network == n.id && e.container != ep.container)
            .filter_map(|e| e.ip)
            .collect();
        let ip = match ep.fixed_ip {
            Some(ip) => {
                if !subnet.contains(&ip) || ip == gw {
                    return Err(EngineError::BadRequest(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if used.contains(&ip) {
                    return Err(EngineError::Conflict(format!(
                        "Address already in use: {ip}"
                    )));
                }
                ip
            }
            None => {
                let mut last = self.net.last_ip.lock().unwrap_or_else(|p| p.into_inner());
                let after = last.get(&n.id).copied();
                let ip = ipam::allocate_after(&subnet, gw, &used, after);
                if let Some(ip) = ip {
                    last.insert(n.id.clone(), ip);
                }
                ip
            }
            .ok_or_else(|| {
                EngineError::Conflict(format!("no available IPv4 addresses on network {}", n.name))
            })?,
        };
        ep.ip = Some(ip);
        self.put_endpoint(ep)?;
        Ok(ip)
    }

    /// Before a container's shim is spawned: its namespace, veths, addresses and
    /// published ports. On failure everything made here is taken down again.
    pub(crate) async fn net_prepare(self: &Arc<Self>, rec: &ContainerRecord) -> Result<()> {
        let Some(h) = self.host_net() else {
            return Ok(());
        };
        let eps = self.endpoints_of(&rec.id)?;
        if eps.is_empty() {
            return Ok(());
        }
        let _g = self.net.op.lock().await;
        let t = std::time::Instant::now();
        let r = self.net_prepare_inner(h, rec, eps).await;
        if r.is_err() {
            self.net_teardown(rec, true).await;
            self.fill_spares();
        }
        self.rebuild_dns();
        tracing::debug!(container = %rec.id, elapsed = ?t.elapsed(), "network prepared");
        // The used spare namespace is replaced once the container runs
        // (`Engine::after_start`), not while its start still needs the RTNL lock.
        r
    }

    fn spare_dir(&self) -> PathBuf {
        self.config.exec_root.join("netns")
    }

    /// Refills the spare namespaces in the background (one filler at a time).
    pub(crate) fn fill_spares(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.host_net().is_none() || self.default_bridge().is_none() {
            return;
        }
        if self.net.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let have = engine
                    .net
                    .spares
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .len();
                if have >= SPARES {
                    break;
                }
                match engine.make_spare().await {
                    Ok(s) => engine
                        .net
                        .spares
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(s),
                    Err(e) => {
                        tracing::warn!("preparing a spare network namespace: {e}");
                        break;
                    }
                }
            }
            engine.net.filling.store(false, Ordering::Release);
        });
    }

    async fn make_spare(&self) -> Result<Spare> {
        let (Some(h), Some(bridge)) = (self.host_net(), self.default_bridge()) else {
            return Err(EngineError::Internal("no default bridge".into()));
        };
        let tag = hex::encode(rand::random::<[u8; 4]>());
        let netns = self.spare_dir().join(format!("spare-{tag}"));
        let veth = format!("vsp{}", &tag[..7]);
        let peer = format!("vpp{}", &tag[..7]);
        berth_net::netns::create(&netns).map_err(net_err)?;
        let r: Result<()> = async {
            h.links
                .add_veth(&veth, &peer, &bridge.bridge, &netns, &h.alias)
                .await
                .map_err(net_err)?;
            let inside = Links::inside(&netns).map_err(net_err)?;
            inside.lo_up().await.map_err(net_err)?;
            inside.rename_down(&peer, "eth0").await.map_err(net_err)
        }
        .await;
        if let Err(e) = r {
            let _ = h.links.delete(&veth).await;
            let _ = berth_net::netns::remove(&netns);
            return Err(e);
        }
        Ok(Spare { netns, veth })
    }

    /// Removes the spare namespaces (daemon stop) and any left by an earlier run.
    async fn drop_spares(&self) {
        let Some(h) = self.host_net() else {
            return;
        };
        let spares: Vec<Spare> =
            std::mem::take(&mut *self.net.spares.lock().unwrap_or_else(|p| p.into_inner()));
        for s in spares {
            let _ = h.links.delete(&s.veth).await;
            let _ = berth_net::netns::remove(&s.netns);
        }
        if let Ok(rd) = std::fs::read_dir(self.spare_dir()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("spare-") {
                    let _ = berth_net::netns::remove(&e.path());
                }
            }
        }
        if let Ok(links) = h.links.list().await {
            for l in links {
                if l.name.starts_with("vsp") && l.alias == h.alias {
                    let _ = h.links.delete(&l.name).await;
                }
            }
        }
    }

    async fn net_prepare_inner(
        &self,
        h: &NetHost,
        rec: &ContainerRecord,
        eps: Vec<EndpointRecord>,
    ) -> Result<()> {
        let ns = self.netns_path(&rec.id);
        let nets = self.network_records()?;
        // A first start on the default bridge takes a spare namespace when one is ready.
        let mut spare_eth: Option<String> = None;
        if !berth_net::netns::is_pinned(&ns) {
            let first_default = eps.first().is_some_and(|e| {
                nets.iter()
                    .any(|n| n.id == e.network && n.predefined && n.driver == "bridge")
            });
            let spare = if first_default {
                self.net
                    .spares
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop()
            } else {
                None
            };
            if let (Some(s), Some(ep)) = (spare, eps.first()) {
                let moved = berth_net::netns::transfer(&s.netns, &ns).map_err(net_err);
                let renamed = match moved {
                    Ok(()) => h.links.rename(&s.veth, &ep.veth).await.map_err(net_err),
                    Err(e) => Err(e),
                };
                match renamed {
                    Ok(()) => spare_eth = Some("eth0".into()),
                    Err(e) => {
                        tracing::warn!("spare namespace unusable: {e}");
                        let _ = h.links.delete(&s.veth).await;
                        let _ = berth_net::netns::remove(&s.netns);
                        let _ = berth_net::netns::remove(&ns);
                    }
                }
            }
        }
        berth_net::netns::create(&ns).map_err(net_err)?;
        let inside = Links::inside(&ns).map_err(net_err)?;
        if spare_eth.is_none() {
            inside.lo_up().await.map_err(net_err)?;
        }
        let mut primary: Option<(EndpointRecord, Ipv4Addr)> = None;
        for (i, mut ep) in eps.into_iter().enumerate() {
            let Some(n) = nets.iter().find(|n| n.id == ep.network) else {
                continue;
            };
            let ip = self.allocate_ip(n, &mut ep)?;
            if i == 0 {
                if let Some(eth) = spare_eth.take() {
                    let prefix = n.subnet.map(|s| s.prefix_len()).unwrap_or(16);
                    inside
                        .configure_endpoint(&eth, &ep.ifname, ip, prefix, n.gateway)
                        .await
                        .map_err(net_err)?;
                    primary = Some((ep, ip));
                    continue;
                }
            }
            if h.links.get(&ep.veth).await.map_err(net_err)?.is_none() {
                let tmp = format!("vp{}", &ep.veth[4..]);
                h.links
                    .add_veth(&ep.veth, &tmp, &n.bridge, &ns, &h.alias)
                    .await
                    .map_err(net_err)?;
                let prefix = n.subnet.map(|s| s.prefix_len()).unwrap_or(16);
                inside
                    .configure_endpoint(
                        &tmp,
                        &ep.ifname,
                        ip,
                        prefix,
                        if i == 0 { n.gateway } else { None },
                    )
                    .await
                    .map_err(net_err)?;
            }
            if i == 0 {
                primary = Some((ep, ip));
            }
        }
        if let Some((ep, ip)) = primary {
            self.publish_ports(h, rec, ep, ip)?;
        }
        Ok(())
    }

    fn publish_ports(
        &self,
        h: &NetHost,
        rec: &ContainerRecord,
        mut ep: EndpointRecord,
        ip: Ipv4Addr,
    ) -> Result<()> {
        if self
            .net
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&rec.id)
        {
            return Ok(());
        }
        let hc = &rec.host_config;
        let mut specs: Vec<(u16, Proto, Option<Ipv4Addr>, u16)> = Vec::new();
        let bindings = hc.port_bindings.clone().unwrap_or_default();
        let mut keys: Vec<&String> = bindings.keys().collect();
        keys.sort();
        for k in keys {
            let (cport, proto) = parse_port_key(k).map_err(net_err)?;
            let list = bindings[k].clone().unwrap_or_default();
            let list = if list.is_empty() {
                vec![PortBinding::default()]
            } else {
                list
            };
            for b in list {
                let hip = b
                    .host_ip
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<Ipv4Addr>()
                            .map_err(|_| EngineError::BadRequest(format!("invalid host IP: {s}")))
                    })
                    .transpose()?
                    .filter(|ip| !ip.is_unspecified());
                let hport = match b.host_port.as_deref().filter(|s| !s.is_empty()) {
                    Some(p) => p
                        .parse::<u16>()
                        .map_err(|_| EngineError::BadRequest(format!("invalid hostPort: {p}")))?,
                    None => 0,
                };
                specs.push((cport, proto, hip, hport));
            }
        }
        if hc.publish_all_ports.unwrap_or(false) {
            for k in rec.config.exposed_ports.clone().unwrap_or_default() {
                let (cport, proto) = parse_port_key(&k).map_err(net_err)?;
                if !specs.iter().any(|s| s.0 == cport && s.1 == proto) {
                    specs.push((cport, proto, None, 0));
                }
            }
        }
        let mut held = Vec::new();
        let mut rules: Vec<PortRule> = Vec::new();
        let res: Result<()> = (|| {
            for (cport, proto, hip, hport) in specs {
                let (r, port) = reserve(hip, hport, proto).map_err(net_err)?;
                held.push(r);
                let rule = PortRule {
                    host_ip: hip,
                    host_port: port,
                    proto,
                    container_ip: ip,
                    container_port: cport,
                };
                h.fw.setup_port(&rule).map_err(net_err)?;
                rules.push(rule);
            }
            Ok(())
        })();
        if let Err(e) = res {
            for r in &rules {
                let _ = h.fw.teardown_port(r);
            }
            return Err(e);
        }
        if !(rules.is_empty() && ep.ports.is_empty()) {
            ep.ports = rules;
            self.put_endpoint(&ep)?;
        }
        self.net
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rec.id.clone(), held);
        Ok(())
    }

    /// Takes down what [`Self::net_prepare`] made. With `release`, the addresses go back
    /// to the pool (on removal, or when a start failed).
    async fn net_teardown(&self, rec: &ContainerRecord, release: bool) {
        self.net_teardown_with(rec, release, true).await
    }

    /// [`Self::net_teardown`]; with `persist` false the endpoint records are left as
    /// they were (they are about to be deleted).
    async fn net_teardown_with(&self, rec: &ContainerRecord, release: bool, persist: bool) {
        let Some(h) = self.host_net() else {
            return;
        };
        self.net
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        let Ok(eps) = self.endpoints_of(&rec.id) else {
            return;
        };
        for mut ep in eps {
            for p in &ep.ports {
                if let Err(e) = h.fw.teardown_port(p) {
                    tracing::warn!(container = %rec.id, "unpublishing port: {e}");
                }
            }
            ep.ports.clear();
            if let Err(e) = h.links.delete(&ep.veth).await {
                tracing::warn!(container = %rec.id, "deleting {}: {e}", ep.veth);
            }
            if release {
                ep.ip = None;
            }
            if persist {
                let _ = self.put_endpoint(&ep);
            }
        }
        let _ = berth_net::netns::remove(&self.netns_path(&rec.id));
    }

    /// On container removal: rules, addresses and endpoints go at once; the veths and
    /// the namespace (whose deletion waits for the kernel's RCU grace periods) are
    /// deleted in the background. Addresses are handed out round-robin, so a freed one
    /// is not reused while its old veth may still exist.
    pub(crate) async fn net_release(self: &Arc<Self>, rec: &ContainerRecord) {
        let eps = self.endpoints_of(&rec.id).unwrap_or_default();
        if eps.is_empty() {
            return;
        }
        let _g = self.net.op.lock().await;
        self.net_unpublish(rec);
        for ep in &eps {
            let _ = self
                .store
                .delete_record(RecordTable::Endpoints, &ep_key(&ep.container, &ep.network));
        }
        self.rebuild_dns();
        let Some(h) = self.host_net() else {
            return;
        };
        let links = h.links.clone();
        let veths: Vec<String> = eps.into_iter().map(|e| e.veth).collect();
        let ns = self.netns_path(&rec.id);
        let id = rec.id.clone();
        let (done, rx) = tokio::sync::watch::channel(false);
        self.net
            .releasing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), rx);
        let engine = self.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            for v in veths {
                if let Err(e) = links.delete(&v).await {
                    tracing::warn!(container = %id, "deleting {v}: {e}");
                }
            }
            let _ = berth_net::netns::remove(&ns);
            engine
                .net
                .releasing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            let _ = done.send(true);
            tracing::debug!(container = %id, elapsed = ?t.elapsed(), "network released");
            engine.fill_spares();
        });
    }

    /// Waits until the background part of [`Self::net_release`] for a removed container
    /// (its veths and pinned namespace) is done; returns at once when none is under way.
    pub(crate) async fn net_released(&self, id: &str) {
        let rx = self
            .net
            .releasing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if let Some(mut rx) = rx {
            let _ = rx.wait_for(|done| *done).await;
        }
    }

    /// Which namespace the runtime puts the container in.
    pub(crate) fn net_mode(&self, rec: &ContainerRecord) -> Result<NetworkMode> {
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if mode == "host" {
            return Ok(NetworkMode::Host);
        }
        if let Some(target) = mode.strip_prefix("container:") {
            let t = self.container(target)?.snapshot();
            if t.state.pid <= 0 || !matches!(t.state.status.as_str(), "running" | "paused") {
                return Err(EngineError::Conflict(format!(
                    "cannot join network of a non running container: {}",
                    t.id
                )));
            }
            let ns = self.netns_path(&t.id);
            if berth_net::netns::is_pinned(&ns) {
                return Ok(NetworkMode::Join(ns));
            }
            return Ok(NetworkMode::Join(PathBuf::from(format!(
                "/proc/{}/ns/net",
                t.state.pid
            ))));
        }
        let ns = self.netns_path(&rec.id);
        if self.host_net().is_some() && berth_net::netns::is_pinned(&ns) {
            return Ok(NetworkMode::Join(ns));
        }
        Ok(NetworkMode::New)
    }

    /// Rewrites `/etc/hosts` and `/etc/resolv.conf` for the container's networks:
    /// its own address, `--add-host`, `--link` targets; the embedded DNS on user
    /// networks, `--dns`/`--dns-search`/`--dns-option` otherwise.
    pub(crate) fn net_etc_files(&self, rec: &ContainerRecord, etc: &EtcFiles) -> Result<()> {
        let hc = &rec.host_config;
        let eps = self.endpoints_of(&rec.id).unwrap_or_default();
        let nets = self.network_records().unwrap_or_default();
        let hostname = rec.config.hostname.clone().unwrap_or_default();
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for h in hc.extra_hosts.clone().unwrap_or_default() {
            if let Some((name, ip)) = h.split_once([':', '=']) {
                let ip = if ip == "host-gateway" {
                    self.default_bridge()
                        .and_then(|b| b.gateway)
                        .map(|g| g.to_string())
                        .unwrap_or_default()
                } else {
                    ip.to_string()
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        for l in hc.links.clone().unwrap_or_default() {
            let (target, alias) = parse_link(&l);
            if let Ok(t) = self.container(&target) {
                let t = t.snapshot();
                if let Some(ip) = self
                    .endpoints_of(&t.id)
                    .ok()
                    .and_then(|e| e.first().and_then(|e| e.ip))
                {
                    let mut names = vec![alias.clone()];
                    if t.name != alias {
                        names.push(t.name.clone());
                    }
                    names.push(short(&t.id).to_string());
                    hosts.push_str(&format!("{ip}\t{}\n", names.join(" ")));
                }
            }
        }
        if let Some(ip) = eps.first().and_then(|e| e.ip) {
            hosts.push_str(&format!("{ip}\t{hostname}\n"));
        }
        if !eps.is_empty() || hc.extra_hosts.is_some() || hc.links.is_some() {
            write_file(&etc.hosts, &hosts)?;
        }
        let user_gw = eps
            .iter()
            .filter_map(|e| nets.iter().find(|n| n.id == e.network))
            .find(|n| !n.predefined)
            .and_then(|n| n.gateway);
        let dns = hc.dns.clone().unwrap_or_default();
        let search = hc.dns_search.clone().unwrap_or_default();
        let options = hc.dns_options.clone().unwrap_or_default();
        if user_gw.is_some() || !dns.is_empty() || !search.is_empty() || !options.is_empty() {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let mut out = String::new();
            if search.is_empty() {
                for l in host
                    .lines()
                    .filter(|l| l.starts_with("search") || l.starts_with("domain"))
                {
                    out.push_str(l);
                    out.push('\n');
                }
            } else {
                out.push_str(&format!("search {}\n", search.join(" ")));
            }
            match user_gw {
                // The embedded DNS forwards to --dns servers? Docker does; berth's
                // forwards to the host's resolvers, and --dns adds servers after it.
                Some(gw) => {
                    out.push_str(&format!("nameserver {gw}\n"));
                    for d in &dns {
                        out.push_str(&format!("nameserver {d}\n"));
                    }
                }
                None if !dns.is_empty() => {
                    for d in &dns {
                        out.push_str(&format!("nameserver {d}\n"));
                    }
                }
                None => {
                    let r = berth_runtime::rootfs::container_resolv_conf(&host);
                    for l in r.lines().filter(|l| l.starts_with("nameserver")) {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
            let mut opts = options.clone();
            if user_gw.is_some() && !opts.iter().any(|o| o.starts_with("ndots")) {
                opts.push("ndots:0".into());
            }
            if !opts.is_empty() {
                out.push_str(&format!("options {}\n", opts.join(" ")));
            }
            write_file(&etc.resolv_conf, &out)?;
        }
        Ok(())
    }

    /// Docker's legacy link environment (`ALIAS_PORT_80_TCP=tcp://ip:80`, …) added to
    /// the container's own.
    pub(crate) fn net_env(&self, rec: &ContainerRecord, mut env: Vec<String>) -> Vec<String> {
        for l in rec.host_config.links.clone().unwrap_or_default() {
            let (target, alias) = parse_link(&l);
            let Ok(t) = self.container(&target) else {
                continue;
            };
            let t = t.snapshot();
            let Some(ip) = self
                .endpoints_of(&t.id)
                .ok()
                .and_then(|e| e.first().and_then(|e| e.ip))
            else {
                continue;
            };
            let p = alias
                .to_ascii_uppercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            let mut ports: Vec<(u16, Proto)> = t
                .config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .iter()
                .filter_map(|k| parse_port_key(k).ok())
                .collect();
            ports.sort_by_key(|(n, pr)| (*n, pr.as_str()));
            if let Some((n, pr)) = ports.first() {
                env.push(format!("{p}_PORT={}://{ip}:{n}", pr.as_str()));
            }
            for (n, pr) in &ports {
                let pre = format!("{p}_PORT_{n}_{}", pr.as_str().to_ascii_uppercase());
                env.push(format!("{pre}={}://{ip}:{n}", pr.as_str()));
                env.push(format!("{pre}_ADDR={ip}"));
                env.push(format!("{pre}_PORT={n}"));
                env.push(format!("{pre}_PROTO={}", pr.as_str()));
            }
            env.push(format!("{p}_NAME=/{}/{alias}", rec.name));
            for e in t.config.env.clone().unwrap_or_default() {
                let k = e.split('=').next().unwrap_or("");
                if matches!(k, "HOME" | "PATH" | "HOSTNAME") {
                    continue;
                }
                env.push(format!("{p}_ENV_{e}"));
            }
        }
        env
    }

    /// `NetworkSettings` of a container's inspect output.
    pub(crate) fn net_settings(&self, rec: &ContainerRecord) -> NetworkSettings {
        let eps = self.endpoints_of(&rec.id).unwrap_or_default();
        let nets = self.network_records().unwrap_or_default();
        let mut networks = HashMap::new();
        let mut ports: PortMap = HashMap::new();
        for k in rec.config.exposed_ports.clone().unwrap_or_default() {
            ports.insert(k, None);
        }
        for e in &eps {
            let Some(n) = nets.iter().find(|n| n.id == e.network) else {
                continue;
            };
            let mut aliases = e.aliases.clone();
            if !n.predefined {
                aliases.insert(0, short(&rec.id).to_string());
            }
            let mut dns_names = vec![rec.name.clone(), short(&rec.id).to_string()];
            dns_names.extend(e.aliases.iter().cloned());
            networks.insert(
                n.name.clone(),
                EndpointSettings {
                    ipam_config: e.fixed_ip.map(|ip| EndpointIpamConfig {
                        ipv4_address: Some(ip.to_string()),
                        ..Default::default()
                    }),
                    links: None,
                    mac_address: Some(e.ip.map(|ip| mac_string(&mac_for(ip))).unwrap_or_default()),
                    aliases: (!aliases.is_empty()).then_some(aliases),
                    network_id: Some(n.id.clone()),
                    endpoint_id: Some(if e.ip.is_some() {
                        e.endpoint_id.clone()
                    } else {
                        String::new()
                    }),
                    gateway: Some(
                        e.ip.and(n.gateway)
                            .map(|g| g.to_string())
                            .unwrap_or_default(),
                    ),
                    ip_address: Some(e.ip.map(|i| i.to_string()).unwrap_or_default()),
                    ip_prefix_len: Some(
                        e.ip.and(n.subnet)
                            .map(|s| s.prefix_len() as i64)
                            .unwrap_or(0),
                    ),
                    ipv6_gateway: Some(String::new()),
                    global_ipv6_address: Some(String::new()),
                    global_ipv6_prefix_len: Some(0),
                    dns_names: (!n.predefined).then_some(dns_names),
                    ..Default::default()
                },
            );
            for p in &e.ports {
                let k = format!("{}/{}", p.container_port, p.proto.as_str());
                let v = ports.entry(k).or_insert(None).get_or_insert_with(Vec::new);
                v.push(PortBinding {
                    host_ip: Some(p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string()),
                    host_port: Some(p.host_port.to_string()),
                });
            }
        }
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if eps.is_empty() && (mode == "host" || mode == "none") {
            if let Some(n) = nets.iter().find(|n| n.name == mode) {
                networks.insert(
                    n.name.clone(),
                    EndpointSettings {
                        network_id: Some(n.id.clone()),
                        ..Default::default()
                    },
                );
            }
        }
        NetworkSettings {
            sandbox_id: Some(
                berth_oci::Digest::sha256_of(format!("sandbox:{}", rec.id).as_bytes())
                    .hex()
                    .to_string(),
            ),
            sandbox_key: Some(self.netns_path(&rec.id).display().to_string()),
            ports: Some(ports),
            networks: Some(networks),
        }
    }

    // ---- the /networks API ----

    fn network_view(&self, n: &NetworkRecord, with_containers: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": false,
            "Internal": n.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigOnly": false,
            "Options": n.options,
            "Labels": n.labels,
        });
        let ipam = Ipam {
            driver: Some("default".into()),
            options: None,
            config: Some(match n.subnet {
                Some(s) => vec![IpamConfig {
                    subnet: Some(s.to_string()),
                    gateway: n.gateway.map(|g| g.to_string()),
                    ..Default::default()
                }],
                None => Vec::new(),
            }),
        };
        v["IPAM"] = serde_json::to_value(&ipam).unwrap_or_default();
        v["ConfigFrom"] = serde_json::json!({"Network": ""});
        if with_containers {
            let recs: HashMap<String, ContainerRecord> = self
                .all_records()
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let mut cs = HashMap::new();
            for e in self.endpoints().unwrap_or_default() {
                if e.network != n.id || e.ip.is_none() {
                    continue;
                }
                let Some(r) = recs.get(&e.container) else {
                    continue;
                };
                let prefix = n.subnet.map(|s| s.prefix_len()).unwrap_or(16);
                cs.insert(
                    e.container.clone(),
                    EndpointResource {
                        name: Some(r.name.clone()),
                        endpoint_id: Some(e.endpoint_id.clone()),
                        mac_address: e.ip.map(|ip| mac_string(&mac_for(ip))),
                        ipv4_address: e.ip.map(|ip| format!("{ip}/{prefix}")),
                        ipv6_address: Some(String::new()),
                    },
                );
            }
            v["Containers"] = serde_json::to_value(cs).unwrap_or_default();
        }
        v
    }

    /// `POST /networks/create`.
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let Some(h) = self.host_net() else {
            return Err(EngineError::Internal(
                "networking is not available on this daemon".into(),
            ));
        };
        let name = req.name.clone();
        if name.is_empty() {
            return Err(EngineError::BadRequest(
                "network name must not be empty".into(),
            ));
        }
        let driver = req
            .driver
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(EngineError::NotFound(format!(
                "plugin \"{driver}\" not found"
            )));
        }
        let _g = self.net.op.lock().await;
        let nets = self.network_records()?;
        if nets.iter().any(|n| n.name == name) {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let cfg = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .and_then(|c| c.into_iter().next())
            .unwrap_or_default();
        let ours: Vec<Ipv4Net> = nets.iter().filter_map(|n| n.subnet).collect();
        let _lock = berth_net::host_lock().map_err(net_err)?;
        let subnet = match cfg.subnet.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                let net: Ipv4Net = s
                    .parse()
                    .map_err(|_| EngineError::BadRequest(format!("invalid subnet {s}")))?;
                if net.trunc() != net {
                    return Err(EngineError::BadRequest(format!(
                        "invalid subnet {s}: it should be {}",
                        net.trunc()
                    )));
                }
                if ours
                    .iter()
                    .chain(ipam::host_routes().iter())
                    .any(|o| ipam::overlaps(o, &net))
                {
                    return Err(EngineError::Conflict(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                net
            }
            None => {
                let mut taken = ipam::host_routes();
                taken.extend(ours.iter().cloned());
                ipam::pick_subnet(&h.pools, &taken).ok_or_else(|| {
                    EngineError::Conflict(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
            }
        };
        let gateway = match cfg.gateway.as_deref().filter(|s| !s.is_empty()) {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| EngineError::BadRequest(format!("invalid gateway {g}")))?;
                if !subnet.contains(&ip) {
                    return Err(EngineError::BadRequest(format!(
                        "invalid pool request: gateway {g} is not in subnet {subnet}"
                    )));
                }
                ip
            }
            None => ipam::first_host(&subnet),
        };
        let id = hex::encode(rand::random::<[u8; 32]>());
        let options = req.options.clone().unwrap_or_default();
        let bridge = options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        let rec = NetworkRecord {
            id: id.clone(),
            name,
            driver,
            created: berth_store::now_rfc3339(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            bridge,
            internal: req.internal.unwrap_or(false),
            labels: req.labels.clone().unwrap_or_default(),
            options,
            predefined: false,
        };
        if let Err(e) = self.bridge_up(&rec).await {
            let _ = self.bridge_down(&rec).await;
            return Err(e);
        }
        self.put_network(&rec)?;
        self.rebuild_dns();
        Ok(NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    /// `GET /networks`.
    pub fn network_list(&self, filters: &Filters) -> Result<Vec<serde_json::Value>> {
        filters.only(&["name", "id", "driver", "label", "type", "dangling", "scope"])?;
        let used: HashSet<String> = self.endpoints()?.into_iter().map(|e| e.network).collect();
        let mut out = Vec::new();
        for n in self.network_records()? {
            if filters.contains("name")
                && !filters
                    .get("name")
                    .iter()
                    .any(|f| n.name.contains(f.as_str()))
            {
                continue;
            }
            if filters.contains("id")
                && !filters
                    .get("id")
                    .iter()
                    .any(|f| n.id.starts_with(f.as_str()))
            {
                continue;
            }
            if filters.contains("driver") && !filters.get("driver").contains(&n.driver) {
                continue;
            }
            if filters.contains("type") {
                let t = if n.predefined { "builtin" } else { "custom" };
                if !filters.get("type").iter().any(|f| f == t) {
                    continue;
                }
            }
            if filters.contains("dangling") {
                let want = filters
                    .get("dangling")
                    .iter()
                    .any(|d| d == "true" || d == "1");
                if (n.predefined || used.contains(&n.id)) == want {
                    continue;
                }
            }
            let labels: BTreeMap<String, String> = n.labels.clone().into_iter().collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            out.push(self.network_view(&n, false));
        }
        Ok(out)
    }

    /// `GET /networks/{id}`.
    pub fn network_inspect(&self, name: &str) -> Result<serde_json::Value> {
        let n = self.network_find(name)?;
        Ok(self.network_view(&n, true))
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, name: &str) -> Result<()> {
        let n = self.network_find(name)?;
        if n.predefined {
            return Err(EngineError::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let _g = self.net.op.lock().await;
        if self.endpoints()?.iter().any(|e| e.network == n.id) {
            return Err(EngineError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.bridge_down(&n).await?;
        self.store.delete_record(RecordTable::Networks, &n.id)?;
        self.rebuild_dns();
        Ok(())
    }

    /// `POST /networks/prune`.
    pub async fn network_prune(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        filters.only(&["label", "until"])?;
        let used: HashSet<String> = self.endpoints()?.into_iter().map(|e| e.network).collect();
        let mut deleted = Vec::new();
        for n in self.network_records()? {
            if n.predefined || used.contains(&n.id) {
                continue;
            }
            let labels: BTreeMap<String, String> = n.labels.clone().into_iter().collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            self.network_remove(&n.id).await?;
            deleted.push(n.name);
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        name: &str,
        container: &str,
        cfg: Option<EndpointSettings>,
    ) -> Result<()> {
        let n = self.network_find(name)?;
        let ctr = self.container(container)?;
        let rec = ctr.snapshot();
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if mode == "host"
            || mode == "none"
            || mode.starts_with("container:")
            || n.driver != "bridge"
        {
            return Err(EngineError::BadRequest(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let eps = self.endpoints_of(&rec.id)?;
        if eps.iter().any(|e| e.network == n.id) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            )));
        }
        let cfg = cfg.unwrap_or_default();
        let fixed = cfg
            .ipam_config
            .and_then(|c| c.ipv4_address)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| EngineError::BadRequest(format!("invalid IPv4 address: {s}")))
            })
            .transpose()?;
        let order = eps.iter().map(|e| e.order + 1).max().unwrap_or(0);
        let ep = self.new_endpoint(&rec.id, &n, order, fixed, cfg.aliases.unwrap_or_default());
        self.put_endpoint(&ep)?;
        let running = matches!(rec.state.status.as_str(), "running" | "paused");
        if running {
            let res = self.net_prepare(&rec).await;
            if let Err(e) = res {
                let _ = self
                    .store
                    .delete_record(RecordTable::Endpoints, &ep_key(&rec.id, &n.id));
                return Err(e);
            }
        }
        self.rebuild_dns();
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        &self,
        name: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let n = self.network_find(name)?;
        let rec = self.container(container)?.snapshot();
        let eps = self.endpoints_of(&rec.id)?;
        let Some(ep) = eps.iter().find(|e| e.network == n.id) else {
            return Err(EngineError::Conflict(format!(
                "container {} is not connected to network {}",
                rec.id, n.name
            )));
        };
        let _g = self.net.op.lock().await;
        if let Some(h) = self.host_net() {
            for p in &ep.ports {
                let _ = h.fw.teardown_port(p);
            }
            if ep.order == 0 {
                self.net
                    .reservations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&rec.id);
            }
            h.links.delete(&ep.veth).await.map_err(net_err)?;
        }
        self.store
            .delete_record(RecordTable::Endpoints, &ep_key(&rec.id, &n.id))?;
        self.rebuild_dns();
        Ok(())
    }

    /// After a daemon restart: re-holds the host ports of running containers.
    pub(crate) fn net_restore_ports(&self, rec: &ContainerRecord) {
        let Ok(eps) = self.endpoints_of(&rec.id) else {
            return;
        };
        let mut held = Vec::new();
        for e in &eps {
            for p in &e.ports {
                match reserve(p.host_ip, p.host_port, p.proto) {
                    Ok((r, _)) => held.push(r),
                    Err(err) => {
                        tracing::warn!(container = %rec.id, "re-holding port {}: {err}", p.host_port)
                    }
                }
            }
        }
        if !held.is_empty() {
            self.net
                .reservations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rec.id.clone(), held);
        }
    }
}

fn write_file(p: &Path, s: &str) -> Result<()> {
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, s)
        .and_then(|_| std::fs::rename(&tmp, p))
        .map_err(|e| EngineError::Internal(format!("{}: {e}", p.display())))
}

/// Adds the default bridge's legacy top-level fields (`IPAddress`, `Gateway`,
/// `MacAddress`, …) to a container's inspect JSON, as Docker still shows them.
pub fn legacy_network_fields(v: &mut serde_json::Value) {
    let Some(ns) = v.get_mut("NetworkSettings").and_then(|n| n.as_object_mut()) else {
        return;
    };
    let bridge = ns
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .cloned()
        .unwrap_or_default();
    let field = |k: &str| bridge.get(k).cloned();
    for (k, default) in [
        ("EndpointID", serde_json::json!("")),
        ("Gateway", serde_json::json!("")),
        ("GlobalIPv6Address", serde_json::json!("")),
        ("GlobalIPv6PrefixLen", serde_json::json!(0)),
        ("IPAddress", serde_json::json!("")),
        ("IPPrefixLen", serde_json::json!(0)),
        ("IPv6Gateway", serde_json::json!("")),
        ("MacAddress", serde_json::json!("")),
    ] {
        ns.insert(k.to_string(), field(k).unwrap_or(default));
    }
    ns.entry("HairpinMode").or_insert(serde_json::json!(false));
    ns.entry("LinkLocalIPv6Address")
        .or_insert(serde_json::json!(""));
    ns.entry("LinkLocalIPv6PrefixLen")
        .or_insert(serde_json::json!(0));
    ns.entry("SecondaryIPAddresses")
        .or_insert(serde_json::Value::Null);
    ns.entry("SecondaryIPv6Addresses")
        .or_insert(serde_json::Value::Null);
}

impl Engine {
    /// `ps` fields from the network and mount state: published and exposed ports,
    /// networks, mounts.
    pub(crate) fn with_net_summary(
        &self,
        rec: &ContainerRecord,
        mut s: bollard_stubs::models::ContainerSummary,
    ) -> bollard_stubs::models::ContainerSummary {
        use bollard_stubs::models::{
            ContainerSummaryNetworkSettings, PortSummary, PortSummaryTypeEnum,
        };
        let ns = self.net_settings(rec);
        let mut ports = Vec::new();
        for (k, bindings) in ns.ports.clone().unwrap_or_default() {
            let Ok((p, proto)) = parse_port_key(&k) else {
                continue;
            };
            let typ = Some(match proto {
                Proto::Tcp => PortSummaryTypeEnum::TCP,
                Proto::Udp => PortSummaryTypeEnum::UDP,
            });
            match bindings.filter(|b| !b.is_empty()) {
                None => ports.push(PortSummary {
                    ip: None,
                    private_port: p,
                    public_port: None,
                    typ,
                }),
                Some(bs) => {
                    for b in bs {
                        ports.push(PortSummary {
                            ip: b.host_ip.clone(),
                            private_port: p,
                            public_port: b.host_port.and_then(|h| h.parse().ok()),
                            typ,
                        });
                    }
                }
            }
        }
        ports.sort_by_key(|p| (p.private_port, p.public_port));
        s.ports = Some(ports);
        s.network_settings = Some(ContainerSummaryNetworkSettings {
            networks: ns.networks,
        });
        s.mounts = Some(Self::mount_points(rec));
        s
    }
}
