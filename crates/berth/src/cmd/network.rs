//! `berth network create/ls/inspect/rm/connect/disconnect/prune`, `berth port`, and the
//! network flags of `create` and `run` (`-p`, `-P`, `--link`, `--dns`, `--add-host`,
//! `--network-alias`, `--ip`, `--expose`).

use super::client::{api_error, runtime, ClientOpts};
use super::volume::{filters, kv};
use crate::format::{pretty_json, print_table, Template};
use anyhow::{anyhow, bail, Result};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions, PruneNetworksOptions};
use std::collections::HashMap;

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    pub name: String,
    /// Driver to manage the network.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format.
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway for the subnet.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network.
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=bridge").
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    pub network: String,
    pub container: String,
    /// Add network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address.
    #[arg(long)]
    pub ip: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DisconnectArgs {
    pub network: String,
    pub container: String,
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "label=<key>=<value>").
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(opts: &ClientOpts, cmd: NetworkCmd) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        match cmd {
            NetworkCmd::Create(a) => {
                let ipam = (a.subnet.is_some() || a.gateway.is_some()).then(|| Ipam {
                    driver: Some("default".into()),
                    config: Some(vec![IpamConfig {
                        subnet: a.subnet.clone(),
                        gateway: a.gateway.clone(),
                        ..Default::default()
                    }]),
                    options: None,
                });
                let r = d
                    .create_network(NetworkCreateRequest {
                        name: a.name.clone(),
                        driver: Some(a.driver.clone()),
                        internal: Some(a.internal),
                        ipam,
                        labels: Some(kv(&a.label)),
                        options: Some(kv(&a.opt)),
                        ..Default::default()
                    })
                    .await
                    .map_err(api_error)?;
                println!("{}", r.id);
                Ok(0)
            }
            NetworkCmd::Ls(a) => {
                let mut nets = d
                    .list_networks(Some(ListNetworksOptions {
                        filters: Some(filters(&a.filter)?),
                    }))
                    .await
                    .map_err(api_error)?;
                nets.sort_by(|x, y| x.name.cmp(&y.name));
                let id = |s: &Option<String>| {
                    let s = s.clone().unwrap_or_default();
                    if a.no_trunc {
                        s
                    } else {
                        s.chars().take(12).collect()
                    }
                };
                if a.quiet {
                    for n in &nets {
                        println!("{}", id(&n.id));
                    }
                } else if let Some(f) = a.format.as_deref() {
                    let t = Template::parse(f)?;
                    for n in &nets {
                        println!("{}", t.render(&serde_json::to_value(n)?)?);
                    }
                } else {
                    let mut rows = vec![vec![
                        "NETWORK ID".to_string(),
                        "NAME".into(),
                        "DRIVER".into(),
                        "SCOPE".into(),
                    ]];
                    for n in &nets {
                        rows.push(vec![
                            id(&n.id),
                            n.name.clone().unwrap_or_default(),
                            n.driver.clone().unwrap_or_default(),
                            n.scope.clone().unwrap_or_default(),
                        ]);
                    }
                    print_table(&rows);
                }
                Ok(0)
            }
            NetworkCmd::Inspect(a) => {
                let mut out = Vec::new();
                let mut code = 0;
                for n in &a.names {
                    match d.inspect_network(n, None::<InspectNetworkOptions>).await {
                        Ok(v) => out.push(serde_json::to_value(&v)?),
                        Err(e) => {
                            eprintln!("{:#}", api_error(e));
                            code = 1;
                        }
                    }
                }
                match a.format.as_deref() {
                    Some(f) => {
                        let t = Template::parse(f)?;
                        for v in &out {
                            println!("{}", t.render(v)?);
                        }
                    }
                    None => println!("{}", pretty_json(&serde_json::Value::Array(out))),
                }
                Ok(code)
            }
            NetworkCmd::Rm(a) => {
                let mut code = 0;
                for n in &a.names {
                    match d.remove_network(n).await {
                        Ok(()) => println!("{n}"),
                        Err(e) => {
                            eprintln!("{:#}", api_error(e));
                            code = 1;
                        }
                    }
                }
                Ok(code)
            }
            NetworkCmd::Connect(a) => {
                d.connect_network(
                    &a.network,
                    NetworkConnectRequest {
                        container: a.container.clone(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: (!a.alias.is_empty()).then(|| a.alias.clone()),
                            ipam_config: a.ip.as_ref().map(|ip| EndpointIpamConfig {
                                ipv4_address: Some(ip.clone()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(api_error)?;
                Ok(0)
            }
            NetworkCmd::Disconnect(a) => {
                d.disconnect_network(
                    &a.network,
                    NetworkDisconnectRequest {
                        container: a.container.clone(),
                        force: Some(a.force),
                    },
                )
                .await
                .map_err(api_error)?;
                Ok(0)
            }
            NetworkCmd::Prune(a) => {
                let r = d
                    .prune_networks(Some(PruneNetworksOptions {
                        filters: Some(filters(&a.filter)?),
                    }))
                    .await
                    .map_err(api_error)?;
                let del = r.networks_deleted.unwrap_or_default();
                if !del.is_empty() {
                    println!("Deleted Networks:");
                    for n in del {
                        println!("{n}");
                    }
                }
                Ok(0)
            }
        }
    })
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`.
#[derive(clap::Args, Debug)]
pub struct PortArgs {
    pub container: String,
    pub port: Option<String>,
}

pub fn port(opts: &ClientOpts, a: PortArgs) -> Result<i32> {
    let info = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.inspect_container(&a.container, None)
            .await
            .map_err(api_error)
    })?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, p) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), p.to_string())
    });
    let mut found = false;
    for k in keys {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in ports[k].clone().unwrap_or_default() {
            found = true;
            let hp = format!(
                "{}:{}",
                b.host_ip.unwrap_or_default(),
                b.host_port.unwrap_or_default()
            );
            if want.is_some() {
                println!("{hp}");
            } else {
                println!("{k} -> {hp}");
            }
        }
    }
    if !found {
        if let Some(w) = want {
            bail!("Error: No public port '{w}' published for {}", a.container);
        }
    }
    Ok(0)
}

/// The network flags of `create` and `run`.
#[derive(clap::Args, Debug, Default)]
pub struct NetFlags {
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto]).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Add link to another container (name[:alias]).
    #[arg(long)]
    pub link: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long, alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Add network-scoped alias for the container.
    #[arg(long, alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
}

/// One `-p` value → (`80/tcp`, binding).
pub fn parse_publish(s: &str) -> Result<(String, PortBinding)> {
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (s, "tcp"),
    };
    if proto != "tcp" && proto != "udp" {
        bail!("invalid proto: {proto}");
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, hport, cport) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => bail!("invalid publish spec: {s}"),
    };
    cport
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow!("invalid containerPort: {cport}"))?;
    if !hport.is_empty() && hport.parse::<u16>().is_err() {
        bail!("invalid hostPort: {hport}");
    }
    Ok((
        format!("{cport}/{proto}"),
        PortBinding {
            host_ip: Some(ip.to_string()),
            host_port: Some(hport.to_string()),
        },
    ))
}

impl NetFlags {
    /// Adds the flags to a create request.
    pub fn apply(&self, body: &mut ContainerCreateBody) -> Result<()> {
        let mut exposed: Vec<String> = body.exposed_ports.clone().unwrap_or_default();
        let hc = body.host_config.get_or_insert_with(Default::default);
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.publish {
            let (k, b) = parse_publish(p)?;
            if !exposed.contains(&k) {
                exposed.push(k.clone());
            }
            bindings
                .entry(k)
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push(b);
        }
        for e in &self.expose {
            let k = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            if !exposed.contains(&k) {
                exposed.push(k);
            }
        }
        if !bindings.is_empty() {
            hc.port_bindings = Some(bindings);
        }
        if self.publish_all {
            hc.publish_all_ports = Some(true);
        }
        let set = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        hc.links = set(&self.link);
        hc.dns = set(&self.dns);
        hc.dns_search = set(&self.dns_search);
        hc.dns_options = set(&self.dns_option);
        hc.extra_hosts = set(&self.add_host);
        if !exposed.is_empty() {
            body.exposed_ports = Some(exposed);
        }
        if !self.network_alias.is_empty() || self.ip.is_some() {
            let net = hc
                .network_mode
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "bridge".into());
            let mut m = HashMap::new();
            m.insert(
                net,
                EndpointSettings {
                    aliases: set(&self.network_alias),
                    ipam_config: self.ip.as_ref().map(|ip| EndpointIpamConfig {
                        ipv4_address: Some(ip.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
            body.networking_config = Some(NetworkingConfig {
                endpoints_config: Some(m),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let (k, b) = parse_publish("127.0.0.1:8080:80").unwrap();
        assert_eq!(k, "80/tcp");
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b.host_port.as_deref(), Some("8080"));
        let (k, b) = parse_publish("53/udp").unwrap();
        assert_eq!(k, "53/udp");
        assert_eq!(b.host_port.as_deref(), Some(""));
        let (k, b) = parse_publish("8443:443").unwrap();
        assert_eq!(
            (k.as_str(), b.host_port.as_deref()),
            ("443/tcp", Some("8443"))
        );
        assert!(parse_publish("80/sctp").is_err());
        assert!(parse_publish("x:80").is_err());
    }
}
