//! `berth volume create/ls/inspect/rm/prune`.

use super::client::{api_error, runtime, ClientOpts};
use crate::format::{human_size, pretty_json, print_table, Template};
use anyhow::{anyhow, Result};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, PruneVolumesOptions, RemoveVolumeOptions};
use std::collections::HashMap;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Remove unused local volumes.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Volume name (random when omitted).
    pub name: Option<String>,
    /// Volume driver name.
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume.
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
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
    /// Force the removal of one or more volumes.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>").
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `key=value` pairs (a bare `key` maps to "").
pub fn kv(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// `name=value` filters.
pub fn filters(f: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for x in f {
        let (k, v) = x
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {x}"))?;
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(m)
}

pub fn run(opts: &ClientOpts, cmd: VolumeCmd) -> Result<i32> {
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        match cmd {
            VolumeCmd::Create(a) => {
                let v = d
                    .create_volume(VolumeCreateRequest {
                        name: a.name.clone(),
                        driver: Some(a.driver.clone()),
                        driver_opts: Some(kv(&a.opt)),
                        labels: Some(kv(&a.label)),
                        ..Default::default()
                    })
                    .await
                    .map_err(api_error)?;
                println!("{}", v.name);
                Ok(0)
            }
            VolumeCmd::Ls(a) => {
                let r = d
                    .list_volumes(Some(ListVolumesOptions {
                        filters: Some(filters(&a.filter)?),
                    }))
                    .await
                    .map_err(api_error)?;
                let vols = r.volumes.unwrap_or_default();
                if a.quiet {
                    for v in vols {
                        println!("{}", v.name);
                    }
                } else if let Some(f) = a.format.as_deref() {
                    let t = Template::parse(f)?;
                    for v in vols {
                        println!("{}", t.render(&serde_json::to_value(&v)?)?);
                    }
                } else {
                    let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
                    for v in vols {
                        rows.push(vec![v.driver.clone(), v.name.clone()]);
                    }
                    print_table(&rows);
                }
                Ok(0)
            }
            VolumeCmd::Inspect(a) => {
                let mut out = Vec::new();
                let mut code = 0;
                for n in &a.names {
                    match d.inspect_volume(n).await {
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
            VolumeCmd::Rm(a) => {
                let mut code = 0;
                for n in &a.names {
                    match d
                        .remove_volume(n, Some(RemoveVolumeOptions { force: a.force }))
                        .await
                    {
                        Ok(()) => println!("{n}"),
                        Err(e) => {
                            eprintln!("{:#}", api_error(e));
                            code = 1;
                        }
                    }
                }
                Ok(code)
            }
            VolumeCmd::Prune(a) => {
                let mut f = filters(&a.filter)?;
                if a.all {
                    f.insert("all".into(), vec!["true".into()]);
                }
                let r = d
                    .prune_volumes(Some(PruneVolumesOptions { filters: Some(f) }))
                    .await
                    .map_err(api_error)?;
                let del = r.volumes_deleted.unwrap_or_default();
                if !del.is_empty() {
                    println!("Deleted Volumes:");
                    for v in del {
                        println!("{v}");
                    }
                    println!();
                }
                println!(
                    "Total reclaimed space: {}",
                    human_size(r.space_reclaimed.unwrap_or(0))
                );
                Ok(0)
            }
        }
    })
}

/// The mount flags of `create` and `run` (beside `-v` and `--tmpfs`).
#[derive(clap::Args, Debug, Default)]
pub struct MountFlags {
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…[,readonly]).
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s) (name[:ro|rw]).
    #[arg(long)]
    pub volumes_from: Vec<String>,
}

impl MountFlags {
    /// Adds the flags to a create request; `-v ./dir:/x` sources become absolute as the
    /// docker CLI makes them.
    pub fn apply(&self, body: &mut bollard::models::ContainerCreateBody) -> Result<()> {
        let hc = body.host_config.get_or_insert_with(Default::default);
        if let Some(binds) = hc.binds.as_mut() {
            for b in binds.iter_mut() {
                if b.starts_with("./") || b.starts_with("../") || b == "." {
                    if let Some((src, rest)) = b.split_once(':') {
                        let abs = std::env::current_dir()?.join(src);
                        *b = format!("{}:{rest}", abs.display());
                    }
                }
            }
        }
        if !self.volumes_from.is_empty() {
            hc.volumes_from = Some(self.volumes_from.clone());
        }
        let mut mounts = Vec::new();
        for m in &self.mount {
            mounts.push(parse_mount(m)?);
        }
        if !mounts.is_empty() {
            hc.mounts = Some(mounts);
        }
        Ok(())
    }
}

/// Parses a `--mount` value like the docker CLI.
pub fn parse_mount(spec: &str) -> Result<bollard::models::Mount> {
    use bollard::models::{
        Mount, MountBindOptions, MountTmpfsOptions, MountType, MountVolumeOptions,
    };
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    let mut vo = MountVolumeOptions::default();
    let mut to = MountTmpfsOptions::default();
    let mut bo = MountBindOptions::default();
    let mut labels = HashMap::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let val = || {
            v.clone()
                .ok_or_else(|| anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: invalid field '{field}' must be a key=value pair"))
        };
        let truthy = |v: &Option<String>| v.as_deref().is_none_or(|x| x == "true" || x == "1");
        match k.as_str() {
            "type" => {
                m.typ = Some(match val()?.as_str() {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    t => return Err(anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: invalid type '{t}'")),
                })
            }
            "source" | "src" => m.source = Some(val()?),
            "target" | "destination" | "dst" => m.target = Some(val()?),
            "readonly" | "ro" => m.read_only = Some(truthy(&v)),
            "volume-nocopy" => vo.no_copy = Some(truthy(&v)),
            "volume-label" => {
                let l = val()?;
                let (a, b) = l.split_once('=').unwrap_or((l.as_str(), ""));
                labels.insert(a.to_string(), b.to_string());
            }
            "bind-propagation" => {}
            "consistency" => m.consistency = Some(val()?),
            "tmpfs-size" => to.size_bytes = Some(super::containers::parse_size(&val()?)?),
            "tmpfs-mode" => {
                let s = val()?;
                to.mode = Some(
                    i64::from_str_radix(&s, 8)
                        .map_err(|_| anyhow!("invalid value for tmpfs-mode: {s}"))?,
                );
            }
            _ => return Err(anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'")),
        }
    }
    if !labels.is_empty() {
        vo.labels = Some(labels);
    }
    match m.typ {
        Some(MountType::VOLUME) => m.volume_options = Some(vo),
        Some(MountType::TMPFS) => m.tmpfs_options = Some(to),
        Some(MountType::BIND) => {
            let _ = &mut bo;
        }
        _ => {}
    }
    if m.target.as_deref().unwrap_or("").is_empty() {
        return Err(anyhow!(
            "invalid argument \"{spec}\" for \"--mount\" flag: target is required"
        ));
    }
    Ok(m)
}
