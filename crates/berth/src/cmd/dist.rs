//! `berth pull`, `push`, `login`, `logout`: per-layer progress bars (indicatif) drawn
//! from the daemon's docker-format JSON stream; credentials read from and written to
//! `~/.docker/config.json` (shared with the docker CLI) and sent as `X-Registry-Auth`.
//!
//! Push and login talk HTTP to the daemon's socket directly (hyper over the unix
//! socket) rather than through bollard: bollard 0.21's `PushImageInfo` drops the
//! per-layer `id` the progress bars need, it has no `compression` parameter, and it
//! has no `POST /auth` call. Pull uses the same path so all three render alike.

use super::client::ClientOpts;
use anyhow::{anyhow, bail, Context, Result};
use berth_dist::credentials::{server_key, CredStore, DOCKER_HUB_KEY};
use berth_dist::{AuthConfig, JsonMessage};
use berth_oci::Reference;
use http_body_util::BodyExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};

/// `berth pull`.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// `berth push`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository.
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Layer compression for layers not yet compressed: gzip (default) or zstd (OCI).
    #[arg(long, value_parser = ["gzip", "zstd"])]
    pub compression: Option<String>,
    /// NAME[:TAG]
    pub name: String,
}

/// `berth login`.
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
}

/// `berth logout`.
#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub).
    pub server: Option<String>,
}

/// The daemon's `{"message": …}` as the docker CLI shows it.
async fn api_failure(resp: hyper::Response<hyper::body::Incoming>) -> anyhow::Error {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let msg = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
    anyhow!("Error response from daemon: {msg}")
}

fn enc(s: &str) -> String {
    url_encode(s)
}

fn url_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The `X-Registry-Auth` header for a reference's registry (`{}` when none stored).
fn auth_header(domain: &str) -> String {
    CredStore::load_default()
        .ok()
        .and_then(|c| c.get(domain).ok().flatten())
        .map(|mut a| {
            a.serveraddress = server_key(domain);
            a.to_header()
        })
        .unwrap_or_else(|| "e30=".to_string())
}

/// Draws docker-style progress: one bar per layer id on a terminal, plain lines
/// otherwise.
struct Renderer {
    tty: bool,
    quiet: bool,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    order: Vec<String>,
    last: HashMap<String, String>,
}

impl Renderer {
    fn new(quiet: bool) -> Renderer {
        let tty = std::io::stdout().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty && !quiet {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        });
        Renderer {
            tty,
            quiet,
            multi,
            bars: HashMap::new(),
            order: Vec::new(),
            last: HashMap::new(),
        }
    }

    fn println(&self, s: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            let _ = self.multi.println(s);
        } else {
            println!("{s}");
        }
    }

    fn show(&mut self, m: &JsonMessage) {
        let status = m.status.clone().unwrap_or_default();
        let Some(id) = m.id.clone().filter(|i| !i.is_empty()) else {
            if !status.is_empty() {
                self.println(&status);
            }
            return;
        };
        if status.starts_with("Pulling from") {
            self.println(&format!("{id}: {status}"));
            return;
        }
        if self.quiet {
            return;
        }
        if !self.tty {
            // One line per status change (not per byte count), like docker without a TTY.
            if self.last.get(&id) != Some(&status) {
                println!("{id}: {status}");
                self.last.insert(id, status);
            }
            return;
        }
        let bar = match self.bars.get(&id) {
            Some(b) => b.clone(),
            None => {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_prefix(id.clone());
                self.bars.insert(id.clone(), b.clone());
                self.order.push(id.clone());
                b
            }
        };
        let detail = m.progress_detail.clone().unwrap_or_default();
        match (detail.current, detail.total) {
            (Some(cur), Some(total)) if total > 0 => {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg:<12} [{bar:40}] {bytes:>10}/{total_bytes}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_length(total);
                bar.set_position(cur);
            }
            _ => {
                bar.set_style(
                    ProgressStyle::with_template("{prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
        }
        bar.set_message(status);
    }

    fn finish(&self) {
        for id in &self.order {
            if let Some(b) = self.bars.get(id) {
                b.finish();
            }
        }
    }
}

/// Reads a JSON-message stream to the end; returns the error message, if any, and the
/// last `aux` value.
async fn consume(
    resp: hyper::Response<hyper::body::Incoming>,
    r: &mut Renderer,
) -> Result<Vec<serde_json::Value>> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut auxes = Vec::new();
    let mut error: Option<String> = None;
    let mut handle = |line: &[u8], r: &mut Renderer| {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        match serde_json::from_slice::<JsonMessage>(line) {
            Ok(m) => {
                if let Some(e) = m
                    .error
                    .clone()
                    .or_else(|| m.error_detail.clone().map(|d| d.message))
                {
                    error = Some(e);
                } else if let Some(a) = m.aux.clone() {
                    auxes.push(a);
                } else {
                    r.show(&m);
                }
            }
            Err(_) => tracing::debug!("unparsed progress line"),
        }
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the daemon's answer")?;
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                handle(&line, r);
            }
        }
    }
    if !buf.is_empty() {
        let rest = std::mem::take(&mut buf);
        handle(&rest, r);
    }
    r.finish();
    if let Some(e) = error {
        bail!("{e}");
    }
    Ok(auxes)
}

pub fn pull(opts: &ClientOpts, a: PullArgs) -> Result<i32> {
    let r = Reference::parse_normalized(&a.name)
        .map_err(|e| anyhow!("invalid reference format: {e}"))?;
    let r = r.with_default_tag();
    let mut q = format!("/images/create?fromImage={}", enc(&r.familiar_name()));
    if let Some(t) = r.tag() {
        q.push_str(&format!("&tag={}", enc(t)));
    } else if let Some(d) = r.digest() {
        q.push_str(&format!("&tag={}", enc(&d.to_string())));
    }
    if let Some(p) = &a.platform {
        q.push_str(&format!("&platform={}", enc(p)));
    }
    let rt = super::client::runtime()?;
    rt.block_on(async {
        let resp = super::client::request(
            opts,
            "POST",
            &q,
            &[("x-registry-auth", auth_header(r.domain()))],
            Vec::new(),
        )
        .await?;
        if !resp.status().is_success() {
            return Err(api_failure(resp).await);
        }
        let mut rd = Renderer::new(a.quiet);
        consume(resp, &mut rd).await?;
        println!(
            "{}",
            r.name().trim_start_matches("docker.io/").to_string()
                + &r.tag().map(|t| format!(":{t}")).unwrap_or_default()
                + &r.digest().map(|d| format!("@{d}")).unwrap_or_default()
        );
        Ok(0)
    })
}

pub fn push(opts: &ClientOpts, a: PushArgs) -> Result<i32> {
    let r = Reference::parse_normalized(&a.name)
        .map_err(|e| anyhow!("invalid reference format: {e}"))?;
    if a.all_tags && r.tag().is_some() {
        bail!("tag can't be used with --all-tags/-a");
    }
    let r = if a.all_tags { r } else { r.with_default_tag() };
    let mut q = format!("/images/{}/push", r.familiar_name());
    let mut params = Vec::new();
    if let Some(t) = r.tag() {
        params.push(format!("tag={}", enc(t)));
    }
    if let Some(c) = &a.compression {
        params.push(format!("compression={}", enc(c)));
    }
    if !params.is_empty() {
        q.push('?');
        q.push_str(&params.join("&"));
    }
    let rt = super::client::runtime()?;
    rt.block_on(async {
        let resp = super::client::request(
            opts,
            "POST",
            &q,
            &[("x-registry-auth", auth_header(r.domain()))],
            Vec::new(),
        )
        .await?;
        if !resp.status().is_success() {
            return Err(api_failure(resp).await);
        }
        let mut rd = Renderer::new(a.quiet);
        let aux = consume(resp, &mut rd).await?;
        if a.quiet {
            for x in aux {
                if let Some(t) = x.get("Tag").and_then(|t| t.as_str()) {
                    println!("{}:{t}", r.familiar_name());
                }
            }
        }
        Ok(0)
    })
}

fn prompt(label: &str, hide: bool) -> Result<String> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let fd = 0;
    let mut saved: Option<libc::termios> = None;
    if hide && stdin.is_terminal() {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed, then filled, termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) == 0 {
                saved = Some(t);
                t.c_lflag &= !libc::ECHO;
                libc::tcsetattr(fd, libc::TCSANOW, &t);
            }
        }
    }
    let mut line = String::new();
    let res = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restoring the attributes read above.
        unsafe {
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
        eprintln!();
    }
    res.context("reading from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(opts: &ClientOpts, a: LoginArgs) -> Result<i32> {
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let key = server_key(&server);
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let mut password = a.password.clone();
    if a.password_stdin {
        if a.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin()
            .read_line(&mut s)
            .context("reading the password from stdin")?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let mut store = CredStore::load_default()?;
    let stored = store.get(&key).ok().flatten();
    let username = match a.username.clone() {
        Some(u) => u,
        None => {
            let def = stored
                .as_ref()
                .map(|s| s.username.clone())
                .unwrap_or_default();
            let u = prompt(
                &if def.is_empty() {
                    "Username: ".to_string()
                } else {
                    format!("Username ({def}): ")
                },
                false,
            )?;
            if u.is_empty() {
                def
            } else {
                u
            }
        }
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", true)?,
    };
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    let auth = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: key.clone(),
        ..Default::default()
    };
    let rt = super::client::runtime()?;
    let answer = rt.block_on(async {
        let body = serde_json::to_vec(&auth)?;
        let resp = super::client::request(
            opts,
            "POST",
            "/auth",
            &[("content-type", "application/json".to_string())],
            body,
        )
        .await?;
        if !resp.status().is_success() {
            return Err(api_failure(resp).await);
        }
        let b = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default())
    })?;
    let token = answer
        .get("IdentityToken")
        .and_then(|t| t.as_str())
        .unwrap_or("")
        .to_string();
    let mut save = auth;
    if !token.is_empty() {
        save.password.clear();
        save.identitytoken = token;
    }
    store
        .store(&key, &save)
        .with_context(|| format!("saving credentials to {}", store.path().display()))?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(_opts: &ClientOpts, a: LogoutArgs) -> Result<i32> {
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let key = server_key(&server);
    let mut store = CredStore::load_default()?;
    if store.erase(&key)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
