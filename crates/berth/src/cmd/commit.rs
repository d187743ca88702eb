//! `berth commit`: `POST /commit` — a container's changes become a new image.

use super::client::{api_error, runtime, ClientOpts};
use anyhow::Result;
use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptions;

/// `berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`.
#[derive(clap::Args, Debug)]
pub struct CommitArgs {
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause container during commit.
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    pub reference: Option<String>,
}

/// `berth commit`.
pub fn run(opts: &ClientOpts, a: CommitArgs) -> Result<i32> {
    let (repo, tag) = match &a.reference {
        Some(r) => {
            berth_oci::Reference::parse_normalized(r)?;
            let last = r.rfind('/').map(|i| i + 1).unwrap_or(0);
            match r[last..].rfind(':') {
                Some(i) => (
                    Some(r[..last + i].to_string()),
                    Some(r[last + i + 1..].to_string()),
                ),
                None => (Some(r.clone()), None),
            }
        }
        None => (None, None),
    };
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        let res = d
            .commit_container(
                CommitContainerOptions {
                    container: Some(a.container.clone()),
                    repo,
                    tag,
                    comment: a.message.clone(),
                    author: a.author.clone(),
                    pause: a.pause,
                    changes: (!a.change.is_empty()).then(|| a.change.join("\n")),
                },
                ContainerConfig::default(),
            )
            .await
            .map_err(api_error)?;
        println!("{}", res.id);
        Ok(0)
    })
}
