//! `berth builder prune`: removes the build contexts the daemon keeps between builds
//! (`POST /build/prune`, as `docker builder prune` calls it).

use super::client::{request_json, runtime, ClientOpts};
use crate::format::human_size_prec;
use anyhow::Result;

/// `berth builder …`.
#[derive(clap::Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove build cache.
    Prune(PruneArgs),
}

/// `berth builder prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones (berth keeps no other kind).
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=24h").
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn run(opts: &ClientOpts, c: BuilderCmd) -> Result<i32> {
    let BuilderCmd::Prune(a) = c;
    let filters = super::images::parse_filters(&a.filter)?;
    if !super::client::confirm_prune(
        a.force,
        "WARNING! This will remove all dangling build cache. ",
    )? {
        return Ok(0);
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("all", if a.all { "1" } else { "0" })
        .append_pair("filters", &serde_json::to_string(&filters)?)
        .finish();
    let r = runtime()?.block_on(request_json(opts, "POST", &format!("/build/prune?{query}")))?;
    let ids: Vec<&str> = r["CachesDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted build cache objects:");
        for id in ids {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size_prec(r["SpaceReclaimed"].as_i64().unwrap_or(0), 4)
    );
    Ok(0)
}
