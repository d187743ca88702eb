//! `berth analyze`: dive, done natively. Reads an image (berth or docker daemon,
//! `docker save` archive, OCI layout), then either evaluates CI rules (`--ci`, `CI=true`),
//! exports JSON (`--json`), prints the text report (`--report`, or when stdout is not a
//! terminal), or opens the TUI.

use anyhow::Context as _;
use berth_analyze::rules::{self, CiConfig, Metrics};
use berth_analyze::{analyze, report, Source, SourceKind};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Arguments of `berth analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Image: a name or ID in the daemon, a `docker save` tar (`-` for stdin), an OCI
    /// layout directory, or a `docker://`, `berth://`, `docker-archive://`, `oci-dir://` URL.
    pub image: String,
    /// Where the image is: berth, docker, docker-archive, oci-dir (default: guessed).
    #[arg(long, value_parser = parse_source)]
    pub source: Option<SourceKind>,
    /// Daemon socket for daemon sources (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Run the CI rules instead of the TUI (also when $CI is true, 1 or yes).
    #[arg(long)]
    pub ci: bool,
    /// CI rules file (default: .dive-ci if it exists).
    #[arg(long, value_name = "FILE")]
    pub ci_config: Option<PathBuf>,
    /// Lowest allowable efficiency (0-1, or "disabled").
    #[arg(long = "lowestEfficiency", value_name = "RATIO")]
    pub lowest_efficiency: Option<String>,
    /// Highest allowable wasted bytes (e.g. 20MB, or "disabled").
    #[arg(long = "highestWastedBytes", value_name = "BYTES")]
    pub highest_wasted_bytes: Option<String>,
    /// Highest allowable wasted/user-bytes ratio (0-1, or "disabled").
    #[arg(long = "highestUserWastedPercent", value_name = "RATIO")]
    pub highest_user_wasted_percent: Option<String>,
    /// Evaluate the CI rules on the corrected figures instead of dive's.
    #[arg(long)]
    pub corrected: bool,
    /// Write the analysis as JSON (dive's export shape plus berth's fields).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print the text report instead of opening the TUI.
    #[arg(long)]
    pub report: bool,
}

fn parse_source(s: &str) -> Result<SourceKind, String> {
    s.parse()
}

fn ci_from_env() -> bool {
    std::env::var("CI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// Writes `data` crash-safely: temp file in the same directory, fsync, rename.
fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("--json needs a file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Runs `berth analyze`.
#[allow(dead_code)]
pub fn run(args: AnalyzeArgs) -> anyhow::Result<i32> {
    run_with_host(args, None)
}

/// Runs `berth analyze` with the top-level `berth -H HOST` as a fallback for the
/// daemon address (`berth analyze -H` wins).
pub fn run_with_host(args: AnalyzeArgs, global_host: Option<&str>) -> anyhow::Result<i32> {
    let env = |k: &str| std::env::var(k).ok();
    let host = args.host.as_deref().or(global_host);
    let source = Source::resolve(&args.image, args.source, host, &env);
    let ci = args.ci || ci_from_env();

    // Validate the rules before the (possibly long) analysis.
    let rule_set = if ci {
        let mut cfg = CiConfig::load(args.ci_config.as_deref(), Path::new(".dive-ci"))?;
        if let Some(v) = &args.lowest_efficiency {
            cfg.lowest_efficiency = v.clone();
        }
        if let Some(v) = &args.highest_wasted_bytes {
            cfg.highest_wasted_bytes = v.clone();
        }
        if let Some(v) = &args.highest_user_wasted_percent {
            cfg.highest_user_wasted_percent = v.clone();
        }
        Some(cfg.rules()?)
    } else {
        None
    };

    let image = source
        .load()
        .with_context(|| format!("reading image {}", args.image))?;
    let analysis = analyze(&image);

    let evaluation = rule_set.as_ref().map(|r| {
        let m = if args.corrected {
            Metrics {
                efficiency: analysis.corrected_efficiency,
                wasted_bytes: analysis.corrected_wasted_bytes,
                user_wasted_percent: analysis.corrected_user_wasted_percent,
            }
        } else {
            Metrics {
                efficiency: analysis.efficiency,
                wasted_bytes: analysis.wasted_bytes,
                user_wasted_percent: analysis.user_wasted_percent,
            }
        };
        rules::evaluate(r, &m)
    });

    if let Some(path) = &args.json {
        let doc = report::export(&image, &analysis, evaluation.as_ref());
        let data = serde_json::to_vec_pretty(&doc)?;
        write_atomic(path, &data)?;
        if !ci {
            emit(&format!("Exported analysis to {}\n", path.display()))?;
            return Ok(0);
        }
    }
    if let Some(ev) = &evaluation {
        emit(&report::text(&image, &analysis, Some(ev)))?;
        return Ok(if ev.pass { 0 } else { 1 });
    }
    if args.report || !std::io::stdout().is_terminal() {
        emit(&report::text(&image, &analysis, None))?;
        return Ok(0);
    }
    berth_analyze::tui::run(&image, &analysis)?;
    Ok(0)
}
