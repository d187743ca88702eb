//! Image commands: `images`, `import`, `tag`, `rmi`, `inspect`, `history`, `save`,
//! `load`, `image prune` — all through the Docker Engine API.

use super::client::{api_error, is_not_found, runtime, ClientOpts};
use crate::format::{ago, human_size, pretty_json, print_table, Template};
use anyhow::{anyhow, bail, Context, Result};
use bollard::query_parameters::{
    CreateImageOptions, ListImagesOptions, PruneImagesOptions, RemoveImageOptions, TagImageOptions,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::io::Write;

/// `berth images`.
#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (dangling=true, label=k=v, reference=pattern, before=, since=).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template (`table` prefix for a table).
    #[arg(long)]
    pub format: Option<String>,
    /// Repository[:tag] to list.
    pub repository: Option<String>,
}

pub(crate) fn parse_filters(f: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for x in f {
        let (k, v) = x
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {x}"))?;
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(m)
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        let h = id.strip_prefix("sha256:").unwrap_or(id);
        h.chars().take(12).collect()
    }
}

pub fn images(opts: &ClientOpts, a: ImagesArgs) -> Result<i32> {
    let mut filters = parse_filters(&a.filter)?;
    if let Some(r) = &a.repository {
        filters
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let rt = runtime()?;
    let list = rt.block_on(async {
        let d = opts.connect().await?;
        d.list_images(Some(ListImagesOptions {
            all: a.all,
            filters: Some(filters),
            digests: a.digests,
            ..Default::default()
        }))
        .await
        .map_err(api_error)
    })?;
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &list {
            let id = short_id(&i.id, a.no_trunc);
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let mut rows = Vec::new();
    for i in &list {
        let digest_of = |repo: &str| {
            i.repo_digests
                .iter()
                .find_map(|d| {
                    d.split_once('@')
                        .filter(|(r, _)| *r == repo)
                        .map(|(_, d)| d.to_string())
                })
                .unwrap_or_else(|| "<none>".into())
        };
        let mut pairs: Vec<(String, String)> = i
            .repo_tags
            .iter()
            .filter(|t| *t != "<none>:<none>")
            .map(|t| match t.rsplit_once(':') {
                Some((r, tag)) if !tag.contains('/') => (r.to_string(), tag.to_string()),
                _ => (t.clone(), "<none>".into()),
            })
            .collect();
        if pairs.is_empty() {
            if i.repo_digests.is_empty() {
                pairs.push(("<none>".into(), "<none>".into()));
            } else {
                for d in &i.repo_digests {
                    let r = d.split_once('@').map(|(r, _)| r).unwrap_or("<none>");
                    pairs.push((r.to_string(), "<none>".into()));
                }
            }
        }
        for (repo, tag) in pairs {
            let row = serde_json::json!({
                "Repository": repo,
                "Tag": tag,
                "ID": short_id(&i.id, a.no_trunc),
                "Digest": digest_of(&repo),
                "CreatedSince": ago(i.created),
                "CreatedAt": chrono::DateTime::from_timestamp(i.created, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
                "Size": human_size(i.size),
                "Containers": if i.containers < 0 { "N/A".to_string() } else { i.containers.to_string() },
            });
            rows.push(row);
        }
    }
    let fmt = a.format.clone().unwrap_or_default();
    if !fmt.is_empty() && !fmt.starts_with("table") {
        let t = Template::parse(&fmt)?;
        for r in &rows {
            println!("{}", t.render(r)?);
        }
        return Ok(0);
    }
    if let Some(tf) = fmt.strip_prefix("table") {
        let t = Template::parse(tf.trim())?;
        let header: HashMap<&str, &str> = [
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("Digest", "DIGEST"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("Size", "SIZE"),
        ]
        .into_iter()
        .collect();
        let hdr = serde_json::to_value(&header)?;
        let mut out = vec![t
            .render(&hdr)?
            .split('\t')
            .map(String::from)
            .collect::<Vec<_>>()];
        for r in &rows {
            out.push(t.render(r)?.split('\t').map(String::from).collect());
        }
        print_table(&out);
        return Ok(0);
    }
    let mut table = vec![];
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table.push(head.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let mut line = vec![s("Repository"), s("Tag")];
        if a.digests {
            line.push(s("Digest"));
        }
        line.extend([s("ID"), s("CreatedSince"), s("Size")]);
        table.push(line);
    }
    print_table(&table);
    Ok(0)
}

/// `berth import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// File (tar, optionally compressed) or `-` for stdin.
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

pub fn import(opts: &ClientOpts, a: ImportArgs) -> Result<i32> {
    if let Some(r) = &a.reference {
        berth_oci::Reference::parse_normalized(r)?;
    }
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        let body: std::pin::Pin<
            Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>,
        > = if a.file == "-" {
            Box::pin(tokio_util::io::ReaderStream::with_capacity(
                tokio::io::stdin(),
                1 << 20,
            ))
        } else {
            let f = tokio::fs::File::open(&a.file)
                .await
                .with_context(|| format!("open {}", a.file))?;
            Box::pin(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20))
        };
        let (repo, tag) = match &a.reference {
            Some(r) => {
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
        let mut s = d.create_image(
            Some(CreateImageOptions {
                from_src: Some("-".into()),
                repo,
                tag,
                message: a.message.clone(),
                changes: a.change.clone(),
                platform: a.platform.clone().unwrap_or_default(),
                ..Default::default()
            }),
            Some(bollard::body_try_stream(body)),
            None,
        );
        while let Some(item) = s.next().await {
            let info = item.map_err(api_error)?;
            if let Some(e) = info.error_detail.and_then(|e| e.message) {
                bail!("{e}");
            }
            if let Some(st) = info.status {
                println!("{st}");
            }
        }
        Ok(0)
    })
}

/// `berth tag SOURCE TARGET`.
#[derive(clap::Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

pub fn tag(opts: &ClientOpts, a: TagArgs) -> Result<i32> {
    let target = berth_oci::Reference::parse_normalized(&a.target)?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let repo = target.familiar_name();
    let tag = target.tag().unwrap_or("latest").to_string();
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.tag_image(
            &a.source,
            Some(TagImageOptions {
                repo: Some(repo),
                tag: Some(tag),
            }),
        )
        .await
        .map_err(api_error)?;
        Ok(0)
    })
}

/// `berth rmi`.
#[derive(clap::Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn rmi(opts: &ClientOpts, a: RmiArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let mut code = 0;
        for name in &a.images {
            match d
                .remove_image(
                    name,
                    Some(RemoveImageOptions {
                        force: a.force,
                        noprune: a.no_prune,
                        ..Default::default()
                    }),
                    None,
                )
                .await
            {
                Ok(items) => {
                    for i in items {
                        if let Some(u) = i.untagged {
                            println!("Untagged: {u}");
                        }
                        if let Some(x) = i.deleted {
                            println!("Deleted: {x}");
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{}", api_error(e));
                    code = 1;
                }
            }
        }
        Ok(code)
    })
}

/// `berth inspect` / `berth image inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for the given type only (container, image, network, volume).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Looks `name` up as each object type in docker's autodetect order (or only `kind`);
/// `Ok(None)` when nothing has that name.
async fn inspect_one(
    d: &bollard::Docker,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<Option<serde_json::Value>> {
    let wants = |k: &str| kind.is_none_or(|x| x == k);
    macro_rules! attempt {
        ($fut:expr) => {
            match $fut.await {
                Ok(v) => return Ok(Some(serde_json::to_value(v)?)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(e)),
            }
        };
    }
    if wants("container") {
        attempt!(d.inspect_container(
            name,
            Some(bollard::query_parameters::InspectContainerOptions { size })
        ));
    }
    if wants("image") {
        attempt!(d.inspect_image(name));
    }
    if wants("network") {
        attempt!(d.inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>
        ));
    }
    if wants("volume") {
        attempt!(d.inspect_volume(name));
    }
    Ok(None)
}

pub fn inspect(opts: &ClientOpts, a: InspectArgs) -> Result<i32> {
    if let Some(k) = &a.kind {
        if !["container", "image", "network", "volume"].contains(&k.as_str()) {
            bail!("\"{k}\" is not a valid value for --type");
        }
    }
    let tmpl = a.format.as_deref().map(Template::parse).transpose()?;
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let mut objs = Vec::new();
        let mut code = 0;
        for n in &a.names {
            match inspect_one(&d, n, a.kind.as_deref(), a.size).await? {
                Some(v) => objs.push(v),
                None => {
                    match a.kind.as_deref() {
                        Some("image") => eprintln!("Error: No such image: {n}"),
                        Some("container") => eprintln!("Error: No such container: {n}"),
                        _ => eprintln!("Error: No such object: {n}"),
                    }
                    code = 1;
                }
            }
        }
        match &tmpl {
            Some(t) => {
                let mut out = std::io::stdout().lock();
                for o in &objs {
                    writeln!(out, "{}", t.render(o)?)?;
                }
            }
            None => println!("{}", pretty_json(&serde_json::Value::Array(objs))),
        }
        Ok(code)
    })
}

/// `berth history`.
#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

pub fn history(opts: &ClientOpts, a: HistoryArgs) -> Result<i32> {
    let items = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.image_history(&a.image).await.map_err(api_error)
    })?;
    if a.quiet {
        for i in &items {
            println!(
                "{}",
                if i.id == "<missing>" {
                    i.id.clone()
                } else {
                    short_id(&i.id, a.no_trunc)
                }
            );
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let mut by = i.created_by.replace('\t', " ");
            if !a.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            serde_json::json!({
                "ID": if i.id == "<missing>" { i.id.clone() } else { short_id(&i.id, a.no_trunc) },
                "CreatedSince": if i.created > 0 { ago(i.created) } else { "N/A".into() },
                "CreatedBy": by,
                "Size": if a.human { human_size(i.size) } else { i.size.to_string() },
                "Comment": i.comment,
            })
        })
        .collect();
    if let Some(f) = &a.format {
        let t = Template::parse(f)?;
        for r in &rows {
            println!("{}", t.render(r)?);
        }
        return Ok(0);
    }
    let mut table = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        table.push(vec![
            s("ID"),
            s("CreatedSince"),
            s("CreatedBy"),
            s("Size"),
            s("Comment"),
        ]);
    }
    print_table(&table);
    Ok(0)
}

/// `berth save`.
#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn save(opts: &ClientOpts, a: SaveArgs) -> Result<i32> {
    use std::io::IsTerminal;
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let names: Vec<&str> = a.images.iter().map(|s| s.as_str()).collect();
        // Ask for the first chunk before creating the output, so errors leave no file.
        let mut s = d.export_images(&names);
        let first = s.next().await.transpose().map_err(api_error)?;
        let (mut out, tmp): (
            Box<dyn Write>,
            Option<(std::path::PathBuf, std::path::PathBuf)>,
        ) = match &a.output {
            Some(p) => {
                let dest = std::path::PathBuf::from(p);
                let tmp = dest.with_file_name(format!(
                    ".{}.tmp-{}",
                    dest.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ));
                let f = std::fs::File::create(&tmp)
                    .with_context(|| format!("create {}", tmp.display()))?;
                (
                    Box::new(std::io::BufWriter::with_capacity(1 << 20, f)),
                    Some((tmp, dest)),
                )
            }
            None => (Box::new(std::io::stdout().lock()), None),
        };
        let res: Result<()> = async {
            if let Some(c) = first {
                out.write_all(&c)?;
            }
            while let Some(c) = s.next().await {
                out.write_all(&c.map_err(api_error)?)?;
            }
            out.flush()?;
            Ok(())
        }
        .await;
        drop(out);
        match (res, tmp) {
            (Ok(()), Some((tmp, dest))) => {
                std::fs::rename(&tmp, &dest)
                    .with_context(|| format!("rename to {}", dest.display()))?;
            }
            (Err(e), Some((tmp, _))) => {
                let _ = std::fs::remove_file(tmp);
                return Err(e);
            }
            (r, None) => r?,
        }
        Ok(0)
    })
}

/// `berth load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn load(opts: &ClientOpts, a: LoadArgs) -> Result<i32> {
    use std::io::IsTerminal;
    if a.input.is_none() && std::io::stdin().is_terminal() {
        bail!("requested load from stdin, but stdin is empty");
    }
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let body: std::pin::Pin<
            Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>,
        > = match &a.input {
            Some(p) => {
                let f = tokio::fs::File::open(p)
                    .await
                    .with_context(|| format!("open {p}"))?;
                Box::pin(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20))
            }
            None => Box::pin(tokio_util::io::ReaderStream::with_capacity(
                tokio::io::stdin(),
                1 << 20,
            )),
        };
        let mut s = d.import_image_stream(
            bollard::query_parameters::ImportImageOptions {
                quiet: a.quiet,
                ..Default::default()
            },
            body,
            None,
        );
        while let Some(item) = s.next().await {
            let info = item.map_err(api_error)?;
            if let Some(e) = info.error_detail.and_then(|e| e.message) {
                bail!("{e}");
            }
            if let Some(st) = info.stream {
                print!("{st}");
            }
        }
        Ok(0)
    })
}

/// `berth image prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>').
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn prune(opts: &ClientOpts, a: PruneArgs) -> Result<i32> {
    let mut filters = parse_filters(&a.filter)?;
    if a.all {
        filters.insert("dangling".into(), vec!["false".into()]);
    }
    if !super::client::confirm_prune(a.force, "WARNING! This will remove all dangling images.\n")? {
        return Ok(0);
    }
    let r = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.prune_images(Some(PruneImagesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(api_error)
    })?;
    let items = r.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i.untagged {
                println!("untagged: {u}");
            }
            if let Some(x) = i.deleted {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed.unwrap_or(0))
    );
    Ok(0)
}
