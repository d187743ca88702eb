//! `version`, `info`, `system check`.

use super::client::{api_error, raw_get, runtime, ClientOpts};
use crate::format::{pretty_json, Template};
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
}

pub fn system(opts: &ClientOpts, c: SystemCmd) -> Result<i32> {
    match c {
        SystemCmd::Info(a) => info(opts, a),
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
