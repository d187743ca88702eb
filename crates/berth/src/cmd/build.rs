//! `berth build`: sends a context tar to `POST /build` (the legacy builder's API,
//! so it works against dockerd too) and shows the daemon's progress stream.
//!
//! The context is a directory (tarred here, honouring `.dockerignore`, streamed
//! while it is written) or `-` (a tar on stdin, or a bare Dockerfile). A Dockerfile
//! given with `-f` outside the context directory is added to the tar under a
//! generated name, as the docker CLI does.

use super::client::{api_error, runtime, ClientOpts};
use anyhow::{bail, Context, Result};
use bollard::query_parameters::{BuildImageOptions, TagImageOptions};
use futures::StreamExt;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `berth build [OPTIONS] PATH | -`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the name:tag format (repeatable).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set metadata for an image (KEY=VALUE).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long)]
    pub network: Option<String>,
    /// Accepted for compatibility (intermediate containers are always removed).
    #[arg(long, default_value_t = true)]
    pub rm: bool,
    /// Build context: a directory, or `-` to read a tar (or a Dockerfile) from stdin.
    pub context: String,
}

/// Chunks of the context tar, produced on a thread, consumed by the HTTP body.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 1 << 20;

impl Write for ChunkWriter {
    fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(d);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(d.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let b = bytes::Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(Ok(b)).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "daemon went away")
            })?;
        }
        Ok(())
    }
}

/// Holds back the last 1024 bytes written (a tar's end-of-archive blocks), so more
/// entries can be appended to a finished archive.
struct HoldBack<W: Write> {
    inner: W,
    tail: Vec<u8>,
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
        self.tail.extend_from_slice(d);
        if self.tail.len() > 1024 {
            let n = self.tail.len() - 1024;
            self.inner.write_all(&self.tail[..n])?;
            self.tail.drain(..n);
        }
        Ok(d.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What goes into the request body.
#[derive(Clone)]
enum Source {
    Dir {
        dir: PathBuf,
        /// Dockerfile path inside the context, or (outside) its host path.
        dockerfile: String,
        outside: Option<PathBuf>,
    },
    Stdin,
}

fn plan_source(a: &BuildArgs) -> Result<(Source, Option<String>)> {
    if a.context == "-" {
        return Ok((Source::Stdin, a.file.clone()));
    }
    let dir = PathBuf::from(&a.context);
    if !dir.is_dir() {
        bail!("unable to prepare context: path {:?} not found", a.context);
    }
    let Some(f) = &a.file else {
        return Ok((
            Source::Dir {
                dir,
                dockerfile: "Dockerfile".into(),
                outside: None,
            },
            None,
        ));
    };
    let df = if f == "-" {
        bail!("-f - (Dockerfile from stdin) is not supported with a directory context; use `berth build - < Dockerfile`");
    } else {
        PathBuf::from(f)
    };
    let abs_dir = dir
        .canonicalize()
        .with_context(|| format!("context {}", dir.display()))?;
    let abs_df = df
        .canonicalize()
        .with_context(|| format!("unable to prepare context: the Dockerfile {f} cannot be read"))?;
    match abs_df.strip_prefix(&abs_dir) {
        Ok(rel) => {
            let rel = rel.to_string_lossy().into_owned();
            Ok((
                Source::Dir {
                    dir,
                    dockerfile: rel.clone(),
                    outside: None,
                },
                Some(rel),
            ))
        }
        Err(_) => {
            let name = format!(".dockerfile.{:012x}", rand_suffix());
            Ok((
                Source::Dir {
                    dir,
                    dockerfile: name.clone(),
                    outside: Some(abs_df),
                },
                Some(name),
            ))
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() & 0xffff_ffff_ffff
}

/// An incremental upload's key and the stamps the daemon recorded for it
/// (`berth_build::upload`).
type Sync = (String, HashMap<String, String>);

/// Writes the request body (on a blocking thread).
fn write_body(src: Source, w: ChunkWriter, sync: Option<Sync>) -> Result<()> {
    match src {
        Source::Stdin => {
            let mut w = w;
            let mut data = Vec::new();
            std::io::stdin().read_to_end(&mut data)?;
            let is_archive = data.len() >= 512 && &data[257..262] == b"ustar"
                || data.starts_with(&[0x1f, 0x8b])
                || data.starts_with(b"BZh")
                || data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']);
            if is_archive {
                w.write_all(&data)?;
            } else {
                // A bare Dockerfile: the context is just that file.
                let mut b = tar::Builder::new(&mut w);
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o600);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, "Dockerfile", &data[..])?;
                b.finish()?;
            }
            w.flush()?;
        }
        Source::Dir {
            dir,
            dockerfile,
            outside,
        } => {
            let hb = HoldBack {
                inner: w,
                tail: Vec::new(),
            };
            let hb = match &sync {
                Some((key, previous)) => {
                    let (hb, kept) = berth_build::context::tar_context_dir_incremental(
                        &dir,
                        &dockerfile,
                        hb,
                        key,
                        previous,
                        std::time::SystemTime::now(),
                    )?;
                    tracing::debug!(kept, "incremental context upload");
                    hb
                }
                None => berth_build::context::tar_context_dir(&dir, &dockerfile, hb)?,
            };
            let mut w = match outside {
                None => {
                    let HoldBack { mut inner, tail } = hb;
                    inner.write_all(&tail)?;
                    inner
                }
                Some(host) => {
                    let data = std::fs::read(&host)
                        .with_context(|| format!("reading {}", host.display()))?;
                    let mut b = tar::Builder::new(hb.inner);
                    let mut h = tar::Header::new_gnu();
                    h.set_mode(0o600);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, &dockerfile, &data[..])?;
                    b.into_inner()?
                }
            };
            w.flush()?;
        }
    }
    Ok(())
}

/// The key of an incremental upload of `src` and the stamps the daemon holds for it;
/// None when the daemon does not take incremental uploads (dockerd) or `src` is stdin.
async fn incremental(opts: &ClientOpts, src: &Source) -> Option<Sync> {
    let Source::Dir {
        dir,
        dockerfile,
        outside,
    } = src
    else {
        return None;
    };
    let df = match outside {
        Some(host) => host.to_string_lossy().into_owned(),
        None => dockerfile.clone(),
    };
    let key = berth_build::upload::context_key(dir, &df).ok()?;
    let host = opts.host();
    let socket = host.strip_prefix("unix://")?;
    let body = super::client::raw_get(socket, &format!("/berth/build/contexts/{key}"))
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let stamps = serde_json::from_value(v.get("Stamps")?.clone()).ok()?;
    Some((key, stamps))
}

/// How one `POST /build` ended.
struct Sent {
    id: Option<String>,
    /// The daemon's error message and exit code.
    failure: Option<(String, i64)>,
}

/// Sends one build request with the context from `src` and shows its progress.
async fn send(
    d: &bollard::Docker,
    options: BuildImageOptions,
    src: Source,
    sync: Option<Sync>,
    quiet: bool,
) -> Result<Sent> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let writer = ChunkWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let producer = tokio::task::spawn_blocking(move || write_body(src, writer, sync));
    let body = tokio_stream_from(rx);
    let mut s = d.build_image(options, None, Some(bollard::body_try_stream(body)));
    let mut sent = Sent {
        id: None,
        failure: None,
    };
    let mut stdout = std::io::stdout();
    while let Some(item) = s.next().await {
        let info = match item {
            Ok(i) => i,
            Err(e) => {
                // bollard turns an `errorDetail` message into an error and drops
                // its code; a failed RUN's code is in Docker's fixed wording.
                let msg = api_error(e).to_string();
                let code = msg
                    .rsplit_once("returned a non-zero code: ")
                    .and_then(|(_, n)| n.trim().parse::<i64>().ok())
                    .filter(|c| *c != 0)
                    .unwrap_or(1);
                sent.failure = Some((msg, code));
                break;
            }
        };
        if let Some(e) = info.error_detail {
            let msg = e.message.unwrap_or_default();
            sent.failure = Some((msg, e.code.filter(|c| *c != 0).unwrap_or(1)));
            break;
        }
        if let Some(aux) = info.aux.and_then(|a| a.id) {
            sent.id = Some(aux);
        }
        if let Some(text) = info.stream {
            if !quiet {
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
        }
    }
    drop(s);
    let produced = producer.await;
    if sent.failure.is_some() {
        return Ok(sent);
    }
    match produced {
        Ok(Ok(())) => Ok(sent),
        Ok(Err(e)) => bail!("unable to prepare context: {e:#}"),
        Err(e) => bail!("{e}"),
    }
}

fn kv(list: &[String], what: &str, from_env: bool) -> Result<HashMap<String, String>> {
    let mut m = HashMap::new();
    for item in list {
        match item.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    m.insert(item.clone(), v);
                }
            }
            None if what == "label" => {
                m.insert(item.clone(), String::new());
            }
            None => bail!("invalid {what} {item:?}: expected KEY=VALUE"),
        }
    }
    Ok(m)
}

/// Splits `name[:tag]` into the query's repo and tag.
fn repo_tag(r: &str) -> (String, Option<String>) {
    let last = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[last..].rfind(':') {
        Some(i) => (
            r[..last + i].to_string(),
            Some(r[last + i + 1..].to_string()),
        ),
        None => (r.to_string(), None),
    }
}

/// `berth build`.
pub fn run(opts: &ClientOpts, a: BuildArgs) -> Result<i32> {
    for t in &a.tags {
        berth_oci::Reference::parse_normalized(t)
            .map_err(|e| anyhow::anyhow!("invalid argument {t:?} for \"-t, --tag\" flag: {e}"))?;
    }
    let (src, dockerfile) = plan_source(&a)?;
    let build_args = kv(&a.build_args, "build-arg", true)?;
    let labels = kv(&a.labels, "label", false)?;
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        let options = BuildImageOptions {
            dockerfile: dockerfile.unwrap_or_else(|| "Dockerfile".into()),
            t: a.tags.first().cloned(),
            q: a.quiet,
            nocache: a.no_cache,
            rm: true,
            buildargs: Some(build_args),
            labels: Some(labels),
            networkmode: a.network.clone(),
            target: a.target.clone().unwrap_or_default(),
            ..Default::default()
        };
        let sync = incremental(opts, &src).await;
        let mut sent = send(&d, options.clone(), src.clone(), sync.clone(), a.quiet).await?;
        if let (Some((key, _)), Some((msg, _))) = (&sync, &sent.failure) {
            if msg.contains(berth_build::upload::STALE_BASE) {
                // The daemon no longer holds what it recorded: send everything.
                tracing::debug!("{msg}; sending the whole context");
                let fresh = Some((key.clone(), HashMap::new()));
                sent = send(&d, options, src, fresh, a.quiet).await?;
            }
        }
        if let Some((msg, code)) = sent.failure {
            eprintln!("{msg}");
            return Ok(code as i32);
        }
        let id = sent.id;
        let Some(id) = id else {
            bail!("the daemon did not report the image ID");
        };
        for t in a.tags.iter().skip(1) {
            let (repo, tag) = repo_tag(t);
            d.tag_image(
                &id,
                Some(TagImageOptions {
                    repo: Some(repo),
                    tag,
                }),
            )
            .await
            .map_err(api_error)?;
            if !a.quiet {
                println!("Successfully tagged {t}");
            }
        }
        if a.quiet {
            println!("{id}");
        }
        if let Some(p) = &a.iidfile {
            write_iidfile(p, &id)?;
        }
        Ok(0)
    })
}

fn write_iidfile(p: &Path, id: &str) -> Result<()> {
    std::fs::write(p, id).with_context(|| format!("writing image ID file {}", p.display()))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
