//! `berth cp` (both directions, with docker's naming rules) and `berth export`.
//!
//! Copying out: the daemon sends a tar whose entries are named from the source's base
//! name; it is unpacked (by the `tar` crate, which refuses entries that escape through
//! `..` or symlinks) into a temporary directory beside the destination, then moved into
//! place, so a failed copy leaves nothing half-written at the destination.

use super::client::{api_error, is_not_found, runtime, ClientOpts};
use anyhow::{anyhow, bail, Context, Result};
use bollard::query_parameters as qp;
use bytes::Bytes;
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `berth cp`.
#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// Always follow symbol links in SRC_PATH (local sources).
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub archive: bool,
    /// Suppress progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or a local path ("-" for a tar on stdin).
    pub src: String,
    /// CONTAINER:DEST_PATH or a local path ("-" for a tar on stdout).
    pub dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path (possibly with `/` before any `:`)
/// → `None`.
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// A blocking reader fed by an async stream's chunks.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Moves `src` onto `dst`, merging into an existing directory like `cp -r` does.
fn merge_move(src: &Path, dst: &Path) -> std::io::Result<()> {
    let sm = std::fs::symlink_metadata(src)?;
    match std::fs::symlink_metadata(dst) {
        Ok(dm) if dm.is_dir() && sm.is_dir() => {
            for e in std::fs::read_dir(src)? {
                let e = e?;
                merge_move(&e.path(), &dst.join(e.file_name()))?;
            }
            std::fs::set_permissions(dst, sm.permissions())?;
            std::fs::remove_dir(src)
        }
        Ok(dm) => {
            if dm.is_dir() {
                std::fs::remove_dir_all(dst)?;
            } else {
                std::fs::remove_file(dst)?;
            }
            std::fs::rename(src, dst)
        }
        Err(_) => std::fs::rename(src, dst),
    }
}

const GO_DIR_BIT: u32 = 1 << 31;

pub fn cp(opts: &ClientOpts, a: CpArgs) -> Result<i32> {
    match (split_remote(&a.src), split_remote(&a.dest)) {
        (Some((c, p)), None) => copy_out(opts, c, p, &a.dest),
        (None, Some((c, p))) => copy_in(opts, &a, c, p),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

fn copy_out(opts: &ClientOpts, ctr: &str, src: &str, dest: &str) -> Result<i32> {
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        let stat = d
            .get_container_archive_info(ctr, Some(qp::ContainerArchiveInfoOptions { path: src.into() }))
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    anyhow!("Error response from daemon: Could not find the file {src} in container {ctr}")
                } else {
                    api_error(e)
                }
            })?;
        let mut stream = d.download_from_container(
            ctr,
            Some(qp::DownloadFromContainerOptions { path: src.into() }),
        );
        if dest == "-" {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(api_error)?)?;
            }
            out.flush()?;
            return Ok(0);
        }
        let src_is_dir = stat.file_mode & GO_DIR_BIT != 0;
        let contents = src.ends_with("/.");
        let dest_path = PathBuf::from(dest);
        let dest_meta = std::fs::metadata(&dest_path).ok();
        // Where the unpacked top entry ends up, and where to stage it.
        let (target, stage_in) = match &dest_meta {
            Some(m) if m.is_dir() => {
                if contents {
                    (dest_path.clone(), dest_path.clone())
                } else {
                    (dest_path.join(&stat.name), dest_path.clone())
                }
            }
            Some(_) if src_is_dir => bail!("cannot copy a directory to a file: {dest}"),
            Some(_) => (dest_path.clone(), parent_of(&dest_path)),
            None => {
                if dest.ends_with('/') && !src_is_dir {
                    bail!("destination directory {dest} does not exist");
                }
                let parent = parent_of(&dest_path);
                if !parent.is_dir() {
                    bail!("destination directory {} does not exist", parent.display());
                }
                (dest_path.clone(), parent)
            }
        };
        let stage = tempfile::Builder::new()
            .prefix(".berth-cp-")
            .tempdir_in(&stage_in)
            .with_context(|| format!("creating a staging dir in {}", stage_in.display()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
        let stage_path = stage.path().to_path_buf();
        let unpacker = std::thread::spawn(move || -> std::io::Result<()> {
            let mut ar = tar::Archive::new(ChunkReader { rx, cur: Bytes::new() });
            ar.set_preserve_permissions(true);
            ar.set_preserve_mtime(true);
            ar.set_overwrite(true);
            ar.unpack(&stage_path)
        });
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(api_error)?;
            if tx.send(chunk).is_err() {
                break;
            }
        }
        drop(tx);
        unpacker
            .join()
            .map_err(|_| anyhow!("unpacking thread panicked"))?
            .context("unpacking the copied files")?;
        let top = if contents {
            stage.path().to_path_buf()
        } else {
            stage.path().join(&stat.name)
        };
        if contents {
            for e in std::fs::read_dir(&top)? {
                let e = e?;
                merge_move(&e.path(), &target.join(e.file_name()))?;
            }
        } else {
            merge_move(&top, &target)
                .with_context(|| format!("moving into {}", target.display()))?;
        }
        Ok(0)
    })
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn copy_in(opts: &ClientOpts, a: &CpArgs, ctr: &str, dest: &str) -> Result<i32> {
    let src = a.src.as_str();
    let rt = runtime()?;
    rt.block_on(async {
        let d = opts.connect().await?;
        if src == "-" {
            // A tar on stdin, extracted as is into the directory `dest`.
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            d.upload_to_container(
                ctr,
                Some(qp::UploadToContainerOptions {
                    path: dest.into(),
                    ..Default::default()
                }),
                bollard::body_full(buf.into()),
            )
            .await
            .map_err(api_error)?;
            return Ok(0);
        }
        let src_path = Path::new(src);
        let meta = if a.follow_link {
            std::fs::metadata(src_path)
        } else {
            std::fs::symlink_metadata(src_path)
        }
        .map_err(|e| anyhow!("lstat {src}: {e}"))?;
        let contents = src.ends_with("/.");
        let base = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let stat = d
            .get_container_archive_info(
                ctr,
                Some(qp::ContainerArchiveInfoOptions { path: dest.into() }),
            )
            .await;
        let (put_dir, name) = match stat {
            Ok(st) if st.file_mode & GO_DIR_BIT != 0 => (
                dest.to_string(),
                if contents { ".".to_string() } else { base },
            ),
            Ok(_) if meta.is_dir() => bail!("cannot copy a directory to a file: {ctr}:{dest}"),
            Ok(_) | Err(_) if !dest.ends_with('/') => {
                if let Err(e) = &stat_err_kind(&d, ctr, dest).await {
                    return Err(anyhow!("{e}"));
                }
                let p = Path::new(dest);
                let parent = p
                    .parent()
                    .map(|x| x.display().to_string())
                    .filter(|x| !x.is_empty())
                    .unwrap_or_else(|| "/".into());
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| anyhow!("invalid destination {dest}"))?;
                (parent, name)
            }
            _ => bail!("destination \"{ctr}:{dest}\" must be a directory"),
        };
        let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(16);
        // `-L` follows SRC_PATH itself (its entry keeps the link's name), not the
        // links inside a copied tree, as docker does.
        let src_owned = if a.follow_link {
            std::fs::canonicalize(src_path).map_err(|e| anyhow!("lstat {src}: {e}"))?
        } else {
            src_path.to_path_buf()
        };
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(ChannelWriter { tx });
            berth_store::pack::append_tree(&mut b, &src_owned, &name)?;
            b.into_inner()?.flush()
        });
        d.upload_to_container(
            ctr,
            Some(qp::UploadToContainerOptions {
                path: put_dir,
                ..Default::default()
            }),
            bollard::body_stream(rx),
        )
        .await
        .map_err(api_error)?;
        writer
            .join()
            .map_err(|_| anyhow!("archiving thread panicked"))?
            .with_context(|| format!("archiving {src}"))?;
        Ok(0)
    })
}

/// Whether a failed destination stat is "not found" (fine: the copy creates it) or a real
/// error (no such container…).
async fn stat_err_kind(d: &bollard::Docker, ctr: &str, dest: &str) -> Result<()> {
    match d
        .get_container_archive_info(
            ctr,
            Some(qp::ContainerArchiveInfoOptions { path: dest.into() }),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => {
            // No such path is fine; no such container is not.
            d.inspect_container(ctr, None::<qp::InspectContainerOptions>)
                .await
                .map(|_| ())
                .map_err(api_error)
        }
        Err(e) => Err(api_error(e)),
    }
}

/// A blocking writer whose bytes go to an async channel (the upload body).
struct ChannelWriter {
    tx: futures::channel::mpsc::Sender<Bytes>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        futures::executor::block_on(futures::SinkExt::send(
            &mut self.tx,
            Bytes::copy_from_slice(buf),
        ))
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `berth export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

pub fn export(opts: &ClientOpts, a: ExportArgs) -> Result<i32> {
    use std::io::IsTerminal;
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.inspect_container(&a.container, None::<qp::InspectContainerOptions>)
            .await
            .map_err(api_error)?;
        let mut stream = d.export_container(&a.container);
        match &a.output {
            Some(path) => {
                // Written to a temp name beside the target, renamed when complete.
                let dir = parent_of(path);
                let mut tmp = tempfile::NamedTempFile::new_in(&dir)
                    .with_context(|| format!("creating a file in {}", dir.display()))?;
                while let Some(chunk) = stream.next().await {
                    tmp.write_all(&chunk.map_err(api_error)?)?;
                }
                tmp.as_file().sync_all()?;
                tmp.persist(path)
                    .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
            }
            None => {
                let mut out = std::io::stdout().lock();
                while let Some(chunk) = stream.next().await {
                    out.write_all(&chunk.map_err(api_error)?)?;
                }
                out.flush()?;
            }
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_args_are_told_from_local_paths() {
        assert_eq!(split_remote("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split_remote("./a:b"), None);
        assert_eq!(split_remote("/tmp/x:y"), None);
        assert_eq!(split_remote("dir/file:1"), None);
        assert_eq!(split_remote("plain"), None);
    }

    #[test]
    fn merge_move_merges_directories_and_replaces_files() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::write(a.join("sub/new"), "new").unwrap();
        std::fs::write(a.join("f"), "from a").unwrap();
        std::fs::create_dir_all(b.join("sub")).unwrap();
        std::fs::write(b.join("sub/old"), "old").unwrap();
        std::fs::write(b.join("f"), "from b").unwrap();
        merge_move(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read_to_string(b.join("sub/new")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(b.join("sub/old")).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(b.join("f")).unwrap(), "from a");
    }
}
