//! `version`, `info`, `system check`, `system df`.

use super::client::{api_error, raw_get, request_json, runtime, ClientOpts};
use crate::format::{ago, human_size_prec, pretty_json, print_table, Template};
use anyhow::Result;

/// `berth version`.
#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn version(opts: &ClientOpts, a: VersionArgs) -> Result<i32> {
    let client = serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": bollard::API_DEFAULT_VERSION.to_string(),
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
    });
    let server = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.version().await.map_err(api_error)
    });
    if let Some(f) = &a.format {
        let t = Template::parse(f)?;
        let data = serde_json::json!({
            "Client": client,
            "Server": server.as_ref().ok().map(serde_json::to_value).transpose()?,
        });
        println!("{}", t.render(&data)?);
        return Ok(if server.is_ok() { 0 } else { 1 });
    }
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" OS/Arch:           linux/{}", std::env::consts::ARCH);
    println!();
    let s = server?;
    println!(
        "Server: {}",
        s.platform
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default()
    );
    println!(" Engine:");
    println!("  Version:          {}", s.version.unwrap_or_default());
    println!(
        "  API version:      {} (minimum version {})",
        s.api_version.unwrap_or_default(),
        s.min_api_version.unwrap_or_default()
    );
    println!(
        "  OS/Arch:          {}/{}",
        s.os.unwrap_or_default(),
        s.arch.unwrap_or_default()
    );
    println!(
        "  Kernel version:   {}",
        s.kernel_version.unwrap_or_default()
    );
    Ok(0)
}

/// `berth info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn info(opts: &ClientOpts, a: InfoArgs) -> Result<i32> {
    let i = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.info().await.map_err(api_error)
    })?;
    let v = serde_json::to_value(&i)?;
    if let Some(f) = &a.format {
        if f == "json" || f == "{{json .}}" {
            println!("{v}");
        } else {
            println!("{}", Template::parse(f)?.render(&v)?);
        }
        return Ok(0);
    }
    let s = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    println!(" Logging Driver: {}", s("LoggingDriver"));
    println!(" Cgroup Driver: {}", s("CgroupDriver"));
    println!(" Cgroup Version: {}", s("CgroupVersion"));
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: {}", s("OSType"));
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    println!(
        " Total Memory: {}",
        crate::format::human_size(v["MemTotal"].as_i64().unwrap_or(0))
    );
    println!(" Name: {}", s("Name"));
    println!(" Docker Root Dir: {}", s("DockerRootDir"));
    println!(" Live Restore Enabled: {}", s("LiveRestoreEnabled"));
    Ok(0)
}

/// `berth system …`.
#[derive(clap::Subcommand, Debug)]
pub enum SystemCmd {
    /// Verify every blob, layer and record in the daemon's store (changes nothing).
    Check {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show daemon information (same as `berth info`).
    Info(InfoArgs),
    /// Show disk usage (images, containers, local volumes, build cache).
    Df(DfArgs),
}

/// `berth system df`.
#[derive(clap::Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a Go template (fields: .Type .TotalCount .Active .Size
    /// .Reclaimable).
    #[arg(long)]
    pub format: Option<String>,
}

pub fn system(opts: &ClientOpts, c: SystemCmd) -> Result<i32> {
    match c {
        SystemCmd::Info(a) => info(opts, a),
        SystemCmd::Df(a) => df(opts, a),
        SystemCmd::Check { json } => {
            let host = opts.host();
            let path = host.strip_prefix("unix://").unwrap_or(&host).to_string();
            let body = runtime()?.block_on(async {
                opts.connect().await?;
                raw_get(&path, "/berth/system/check").await
            })?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            let problems = v["Problems"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", pretty_json(&v));
            } else if problems.is_empty() {
                println!("no problems found");
            } else {
                for p in &problems {
                    println!("{}", p.as_str().unwrap_or_default());
                }
            }
            Ok(if problems.is_empty() { 0 } else { 1 })
        }
    }
}

/// One row of `system df` (docker/cli `formatter/disk_usage.go`).
struct DfRow {
    kind: &'static str,
    total: usize,
    active: usize,
    size: i64,
    reclaimable: i64,
    /// Whether RECLAIMABLE shows a percentage (not for the build cache).
    percent: bool,
}

impl DfRow {
    fn reclaimable_text(&self) -> String {
        let r = human_size_prec(self.reclaimable, 4);
        if self.percent && self.size > 0 {
            format!("{r} ({}%)", self.reclaimable * 100 / self.size)
        } else {
            r
        }
    }
}

fn df_rows(v: &serde_json::Value) -> Vec<DfRow> {
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let int = |x: &serde_json::Value| x.as_i64().unwrap_or(0);
    let images = list("Images");
    let layers = int(&v["LayersSize"]);
    let in_use: Vec<_> = images
        .iter()
        .filter(|i| int(&i["Containers"]) > 0)
        .collect();
    let used: i64 = in_use
        .iter()
        .filter(|i| int(&i["Size"]) >= 0 && int(&i["SharedSize"]) >= 0)
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum();
    let containers = list("Containers");
    let running = |c: &serde_json::Value| {
        matches!(
            c["State"].as_str().unwrap_or(""),
            "running" | "paused" | "restarting"
        )
    };
    let volumes = list("Volumes");
    let vsize = |x: &serde_json::Value| int(&x["UsageData"]["Size"]).max(0);
    let vused = |x: &serde_json::Value| int(&x["UsageData"]["RefCount"]) > 0;
    let cache = list("BuildCache");
    let shared = |x: &serde_json::Value| x["Shared"].as_bool().unwrap_or(false);
    let busy = |x: &serde_json::Value| x["InUse"].as_bool().unwrap_or(false);
    let cache_size: i64 = cache
        .iter()
        .filter(|x| !shared(x))
        .map(|x| int(&x["Size"]))
        .sum();
    let cache_busy: i64 = cache
        .iter()
        .filter(|x| busy(x) && !shared(x))
        .map(|x| int(&x["Size"]))
        .sum();
    vec![
        DfRow {
            kind: "Images",
            total: images.len(),
            active: in_use.len(),
            size: layers,
            reclaimable: layers - used,
            percent: true,
        },
        DfRow {
            kind: "Containers",
            total: containers.len(),
            active: containers.iter().filter(|c| running(c)).count(),
            size: containers.iter().map(|c| int(&c["SizeRw"])).sum(),
            reclaimable: containers
                .iter()
                .filter(|c| !running(c))
                .map(|c| int(&c["SizeRw"]))
                .sum(),
            percent: true,
        },
        DfRow {
            kind: "Local Volumes",
            total: volumes.len(),
            active: volumes.iter().filter(|x| vused(x)).count(),
            size: volumes.iter().map(vsize).sum(),
            reclaimable: volumes.iter().filter(|x| !vused(x)).map(vsize).sum(),
            percent: true,
        },
        DfRow {
            kind: "Build Cache",
            total: cache.len(),
            active: cache.iter().filter(|x| busy(x)).count(),
            size: cache_size,
            reclaimable: cache_size - cache_busy,
            percent: false,
        },
    ]
}

/// `berth system df`.
fn df(opts: &ClientOpts, a: DfArgs) -> Result<i32> {
    let v = runtime()?.block_on(request_json(opts, "GET", "/system/df"))?;
    let rows = df_rows(&v);
    if let Some(f) = &a.format {
        let t = Template::parse(f)?;
        for r in &rows {
            let data = serde_json::json!({
                "Type": r.kind,
                "TotalCount": r.total.to_string(),
                "Active": r.active.to_string(),
                "Size": human_size_prec(r.size, 4),
                "Reclaimable": r.reclaimable_text(),
            });
            println!("{}", t.render(&data)?);
        }
        return Ok(0);
    }
    let mut table = vec![vec![
        "TYPE".to_string(),
        "TOTAL".into(),
        "ACTIVE".into(),
        "SIZE".into(),
        "RECLAIMABLE".into(),
    ]];
    for r in &rows {
        table.push(vec![
            r.kind.to_string(),
            r.total.to_string(),
            r.active.to_string(),
            human_size_prec(r.size, 4),
            r.reclaimable_text(),
        ]);
    }
    print_table(&table);
    if a.verbose {
        df_verbose(&v);
    }
    Ok(0)
}

/// `system df -v`: the objects behind each row.
fn df_verbose(v: &serde_json::Value) {
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
    let size = |x: &serde_json::Value| human_size_prec(x.as_i64().unwrap_or(0), 4);
    let short = |x: &serde_json::Value| {
        let id = s(x);
        id.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    println!("\nImages space usage:\n");
    let mut t = vec![vec![
        "REPOSITORY".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
        "SHARED SIZE".into(),
        "UNIQUE SIZE".into(),
        "CONTAINERS".into(),
    ]];
    for i in list("Images") {
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        let (repo, tag) = tags
            .first()
            .and_then(|t| t.rsplit_once(':'))
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .unwrap_or(("<none>".into(), "<none>".into()));
        let total = i["Size"].as_i64().unwrap_or(0);
        let shared = i["SharedSize"].as_i64().unwrap_or(0).max(0);
        t.push(vec![
            repo,
            tag,
            short(&i["Id"]),
            ago(i["Created"].as_i64().unwrap_or(0)),
            human_size_prec(total, 4),
            human_size_prec(shared, 4),
            human_size_prec(total - shared, 4),
            i["Containers"].as_i64().unwrap_or(0).to_string(),
        ]);
    }
    print_table(&t);
    println!("\nContainers space usage:\n");
    let mut t = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "LOCAL VOLUMES".into(),
        "SIZE".into(),
        "CREATED".into(),
        "STATUS".into(),
        "NAMES".into(),
    ]];
    for c in list("Containers") {
        let volumes = c["Mounts"]
            .as_array()
            .map(|m| m.iter().filter(|x| x["Type"] == "volume").count())
            .unwrap_or(0);
        let names: Vec<String> = c["Names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| s(n).trim_start_matches('/').to_string())
                    .collect()
            })
            .unwrap_or_default();
        t.push(vec![
            short(&c["Id"]),
            s(&c["Image"]),
            format!(
                "\"{}\"",
                s(&c["Command"]).chars().take(20).collect::<String>()
            ),
            volumes.to_string(),
            size(&c["SizeRw"]),
            ago(c["Created"].as_i64().unwrap_or(0)),
            s(&c["Status"]),
            names.join(","),
        ]);
    }
    print_table(&t);
    println!("\nLocal Volumes space usage:\n");
    let mut t = vec![vec![
        "VOLUME NAME".to_string(),
        "LINKS".into(),
        "SIZE".into(),
    ]];
    for x in list("Volumes") {
        t.push(vec![
            s(&x["Name"]),
            x["UsageData"]["RefCount"].as_i64().unwrap_or(0).to_string(),
            size(&x["UsageData"]["Size"]),
        ]);
    }
    print_table(&t);
    println!(
        "\nBuild cache usage: {}\n",
        size(&serde_json::json!(df_rows(v)[3].size))
    );
    let mut t = vec![vec![
        "CACHE ID".to_string(),
        "CACHE TYPE".into(),
        "SIZE".into(),
        "CREATED".into(),
        "LAST USED".into(),
        "USAGE".into(),
        "SHARED".into(),
    ]];
    let when = |x: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(x.as_str().unwrap_or(""))
            .map(|t| ago(t.timestamp()))
            .unwrap_or_default()
    };
    for x in list("BuildCache") {
        t.push(vec![
            s(&x["ID"]),
            s(&x["Type"]),
            size(&x["Size"]),
            when(&x["CreatedAt"]),
            when(&x["LastUsedAt"]),
            x["UsageCount"].as_i64().unwrap_or(0).to_string(),
            x["Shared"].as_bool().unwrap_or(false).to_string(),
        ]);
    }
    print_table(&t);
}
