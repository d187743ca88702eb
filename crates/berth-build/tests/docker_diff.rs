//! Differential test against a real dockerd (Debian `docker.io`, legacy builder).
//!
//! Each case is a Dockerfile `FROM scratch` (no RUN: running containers is not this
//! crate's job) with metadata instructions and COPY/ADD/WORKDIR, built by dockerd from
//! a context and simulated by berth-build from the same context through our own
//! pipeline (context tar → open → plan → dispatch → copy plans applied to a rootfs).
//! Compared: every history `created_by` (which embeds the tarsum source hashes) and
//! `empty_layer` flag, the image config (Env, Cmd, Entrypoint, WorkingDir, User,
//! ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, OnBuild, Shell), the layer
//! count, and the final filesystem (path, type, mode, uid/gid, size, content hash,
//! link target). Prints `SKIP:` when dockerd or root is missing.

use berth_build::context::{open_context, tar_context_dir};
use berth_build::copy::{apply_plan, plan_copy, CopyRequest, DestKind, DestProbe, RootfsDest};
use berth_build::evolve::{parse_trigger, Step};
use berth_build::frontend::{BuildOptions, BuildPlan};
use berth_build::stages::Base;
use berth_build::userdb;
use berth_oci::ImageConfig;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("SKIP: dockerd needs root");
            return None;
        }
        if Command::new("dockerd").arg("--version").output().is_err()
            || Command::new("docker").arg("--version").output().is_err()
        {
            println!("SKIP: dockerd/docker not installed (apt docker.io)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bbd")
            .tempdir_in("/tmp")
            .ok()?;
        let d = dir.path();
        let child = Command::new("dockerd")
            .arg(format!("--data-root={}", d.join("root").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--host=unix://{}", d.join("d.sock").display()))
            .arg(format!("--pidfile={}", d.join("d.pid").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join("log")).ok()?)
            .spawn()
            .ok()?;
        let dd = Dockerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if dd.docker(&["version"]).status.success() {
                return Some(dd);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!("SKIP: dockerd did not come up");
        None
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("run docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file-system snapshot: path → (type, mode, uid, gid, size, content hash, link).
type Snapshot = BTreeMap<String, (String, u32, u32, u32, u64, String, String)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = m.file_type();
            let (kind, hash, link) = if ft.is_dir() {
                stack.push(p.clone());
                ("dir", String::new(), String::new())
            } else if ft.is_symlink() {
                (
                    "symlink",
                    String::new(),
                    fs::read_link(&p).unwrap().to_string_lossy().into_owned(),
                )
            } else {
                (
                    "file",
                    hex::encode(Sha256::digest(fs::read(&p).unwrap())),
                    String::new(),
                )
            };
            let size = if ft.is_file() { m.len() } else { 0 };
            out.insert(
                rel,
                (
                    kind.to_string(),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    size,
                    hash,
                    link,
                ),
            );
        }
    }
    out
}

struct DockerImage {
    config: serde_json::Value,
    rootfs: tempfile::TempDir,
    layers: usize,
}

fn docker_image(dd: &Dockerd, tag: &str) -> DockerImage {
    let work = tempfile::tempdir().unwrap();
    let tarp = work.path().join("img.tar");
    let o = dd.docker(&["save", tag, "-o", tarp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let x = work.path().join("x");
    berth_build::archive::extract_tar(fs::File::open(&tarp).unwrap(), &x, Default::default())
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(x.join("manifest.json")).unwrap()).unwrap();
    let cfg_name = manifest[0]["Config"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(x.join(cfg_name)).unwrap()).unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    for l in layers {
        let f = fs::File::open(x.join(l.as_str().unwrap())).unwrap();
        berth_build::archive::extract_tar(
            f,
            rootfs.path(),
            berth_build::archive::ExtractOptions {
                preserve_owner: true,
                owner: None,
                reuse_unchanged: false,
                fingerprints: None,
            },
        )
        .unwrap();
    }
    DockerImage {
        config,
        rootfs,
        layers: layers.len(),
    }
}

/// What berth-build computes for the target stage.
struct Simulated {
    history: Vec<(String, bool)>,
    config: berth_oci::RunConfig,
    rootfs: PathBuf,
    layers: usize,
    warning: Option<String>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Probe that also sees directories planned earlier in the same simulation.
struct Probe<'a>(&'a Path);
impl DestProbe for Probe<'_> {
    fn kind(&self, p: &str) -> Option<DestKind> {
        RootfsDest(self.0).kind(p)
    }
}

fn cp_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-a", &format!("{}/.", from.display()), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Simulates one build. Images named in FROM are taken from `dd` (config + rootfs);
/// the parent's history entries are counted so only this build's are compared.
fn simulate(dd: &Dockerd, ctx_dir: &Path, opts: &BuildOptions) -> (Simulated, usize) {
    // Client → daemon: the same pipeline berth uses.
    let tar_bytes = tar_context_dir(ctx_dir, "Dockerfile", Vec::new()).unwrap();
    let opened_dir = tempfile::tempdir().unwrap();
    let opened = open_context(&tar_bytes[..], None, opened_dir.path()).unwrap();
    let mut plan = BuildPlan::new("Dockerfile", &opened.dockerfile, opts).unwrap();
    let mut dirs = vec![opened_dir];
    let mut stage_roots: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut stage_configs: BTreeMap<usize, ImageConfig> = BTreeMap::new();
    let mut result = None;
    let mut parent_history = 0;
    for wave in plan.waves.clone() {
        for i in wave {
            let root = tempfile::tempdir().unwrap();
            let rootfs = root.path().to_path_buf();
            let base_cfg = match &plan.graph.stages[i].base {
                Base::Stage(j) => {
                    cp_tree(&stage_roots[j], &rootfs);
                    Some(stage_configs[j].clone())
                }
                Base::Image(name) => {
                    let img = docker_image(dd, name);
                    cp_tree(img.rootfs.path(), &rootfs);
                    let cfg =
                        ImageConfig::from_slice(&serde_json::to_vec(&img.config).unwrap()).unwrap();
                    Some(cfg)
                }
                Base::Scratch => None,
            };
            let base_history = base_cfg.as_ref().map(|c| c.history.len()).unwrap_or(0);
            let (mut st, triggers) = plan.begin_stage(i, base_cfg.as_ref());
            let mut cmds = Vec::new();
            for t in &triggers {
                cmds.push(parse_trigger("Dockerfile", t).unwrap());
            }
            cmds.extend(plan.dockerfile.stages[i].commands.clone());
            let mut history = Vec::new();
            let mut layers = base_cfg
                .as_ref()
                .map(|c| c.rootfs.diff_ids.len())
                .unwrap_or(0);
            for cmd in cmds {
                let step = st.dispatch(&cmd).unwrap_or_else(|e| panic!("{e}"));
                match step {
                    Step::Commit { created_by } => history.push((created_by, true)),
                    Step::Workdir { path, created_by } => {
                        let p = rootfs.join(path.trim_start_matches('/'));
                        let created = !p.exists();
                        fs::create_dir_all(&p).unwrap();
                        if created {
                            layers += 1;
                        }
                        history.push((created_by, !created));
                    }
                    Step::Run(_) => panic!("RUN is not simulated here"),
                    Step::Copy(c) => {
                        let src_root = match &c.from {
                            Some(f) => stage_roots[&plan.graph.resolve(f).unwrap()].clone(),
                            None => opened.root.clone(),
                        };
                        let owner = c.chown.as_deref().map(|s| {
                            let passwd = fs::read_to_string(rootfs.join("etc/passwd")).ok();
                            let group = fs::read_to_string(rootfs.join("etc/group")).ok();
                            userdb::resolve_chown(s, passwd.as_deref(), group.as_deref()).unwrap()
                        });
                        let req = CopyRequest {
                            keyword: c.keyword,
                            sources: &c.sources,
                            contents: &c.contents,
                            dest: &c.dest,
                            root: &src_root,
                            from_image: c.from.is_some(),
                            owner,
                            chmod: None,
                            allow_decompress: c.allow_decompress,
                            hash_cache: None,
                            tar_paths: c.from.is_none().then_some(&opened.tar_paths),
                            excludes: &c.excludes,
                            checksum: c.checksum.as_deref(),
                        };
                        let mut p =
                            plan_copy(&req, &Probe(&rootfs)).unwrap_or_else(|e| panic!("{e}"));
                        for url in p.downloads() {
                            let dl = tempfile::tempdir().unwrap();
                            let local = dl.path().join("download");
                            let ok = Command::new("curl")
                                .args(["-sSf", "-o", local.to_str().unwrap(), &url])
                                .status()
                                .unwrap()
                                .success();
                            assert!(ok, "download {url}");
                            p.resolve_download(&url, &local).unwrap();
                            dirs.push(dl);
                        }
                        apply_plan(&p, &rootfs).unwrap();
                        layers += 1;
                        history.push((c.created_by(&p.src_hash), false));
                    }
                }
            }
            plan.finish_stage(&st);
            stage_roots.insert(i, rootfs);
            stage_configs.insert(
                i,
                ImageConfig {
                    config: Some(st.config.clone()),
                    ..Default::default()
                },
            );
            if i == plan.target {
                parent_history = base_history;
                result = Some((history, st.config.clone(), layers));
            }
            dirs.push(root);
        }
    }
    let (history, config, layers) = result.unwrap();
    (
        Simulated {
            history,
            config,
            rootfs: stage_roots[&plan.target].clone(),
            layers,
            warning: plan.unused_build_args_warning(),
            _dirs: dirs,
        },
        parent_history,
    )
}

fn write_ctx(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let p = d.path().join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        if name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    d
}

fn compare(
    dd: &Dockerd,
    name: &str,
    ctx: &Path,
    build_args: &[(&str, &str)],
    target: Option<&str>,
) {
    let tag = format!("case-{name}");
    let mut args = vec!["build".to_string(), "-t".into(), tag.clone()];
    let mut opts = BuildOptions::default();
    for (k, v) in build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
        opts.build_args.insert(k.to_string(), Some(v.to_string()));
    }
    if let Some(t) = target {
        args.push("--target".into());
        args.push(t.into());
        opts.target = Some(t.into());
    }
    args.push(ctx.to_str().unwrap().into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dd.docker(&argv);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name}: docker build failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = docker_image(dd, &tag);
    let (sim, parent_history) = simulate(dd, ctx, &opts);

    // History: created_by (with tarsum hashes) and empty_layer, per step.
    let docker_hist: Vec<(String, bool)> = img.config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap_or("").to_string(),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .skip(parent_history)
        .collect();
    assert_eq!(sim.history, docker_hist, "{name}: history");
    assert_eq!(sim.layers, img.layers, "{name}: layer count");

    // Config fields.
    let ours = serde_json::to_value(&sim.config).unwrap();
    let theirs = &img.config["config"];
    for f in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
        "Healthcheck",
        "OnBuild",
        "Shell",
    ] {
        let norm = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) if s.is_empty() => serde_json::Value::Null,
            serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
            other => other.clone(),
        };
        assert_eq!(norm(&ours[f]), norm(&theirs[f]), "{name}: config field {f}");
    }

    // Filesystem.
    assert_eq!(
        snapshot(&sim.rootfs),
        snapshot(img.rootfs.path()),
        "{name}: filesystem"
    );

    // Unused build-arg warning.
    if let Some(w) = &sim.warning {
        assert!(
            stdout.contains(w.trim_end()),
            "{name}: docker printed no {w:?} in {stdout}"
        );
    } else {
        assert!(!stdout.contains("were not consumed"), "{name}: {stdout}");
    }
}

#[test]
fn berth_build_matches_dockerd_legacy_builder() {
    let Some(dd) = Dockerd::start() else {
        return;
    };

    // Every metadata instruction, WORKDIR, and COPY forms (file, dir, multi).
    let ctx = write_ctx(&[
        ("Dockerfile", "FROM scratch\nMAINTAINER John Smith <john@smith.com>\nENV ADMIN=\"jeff\" B=x\\ y\nLABEL maintainer=\"jeffmshale@gmail.com\" other=1\nARG V=2\nWORKDIR /app\nWORKDIR sub\nCOPY a.txt .\nCOPY sub /data/\nCOPY a.txt sub/ /multi/\nEXPOSE 9191 9090/udp 8000-8001\nUSER uwsgi\nVOLUME /data /x\nSTOPSIGNAL SIGKILL\nHEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/\nONBUILD RUN echo hi\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT [\"/entrypoint.sh\"]\nCMD python app.py\n"),
        ("a.txt", "hello\n"),
        ("sub/y", "x\n"),
        ("sub/deeper/z", "z\n"),
    ]);
    compare(&dd, "all-metadata", ctx.path(), &[], None);

    // The guide's python:3.7 example (base swapped for scratch): ARG → ENV via
    // --build-arg, COPY . ./app with a .dockerignore, JSON CMD; an unused build arg.
    let ctx = write_ctx(&[
        ("Dockerfile", "FROM scratch\nLABEL maintainer=\"jeffmshale@gmail.com\"\nENV ADMIN=\"jeff\"\nARG buildtime_variable=default_value\nENV env_var_name=$buildtime_variable\nCOPY . ./app\nCMD [\"python\", \"./my_script.py\"]\n"),
        (".dockerignore", "*.log\nsecret/\n"),
        ("my_script.py", "print('hi')\n"),
        ("debug.log", "noise\n"),
        ("secret/key", "k\n"),
        ("lib/util.py", "x = 1\n"),
    ]);
    compare(
        &dd,
        "guide-python",
        ctx.path(),
        &[("buildtime_variable", "from_cli"), ("unused_one", "1")],
        None,
    );

    // The guide's cowsay example: ENTRYPOINT script, MAINTAINER.
    let ctx = write_ctx(&[
        ("Dockerfile", "FROM scratch\nMAINTAINER John Smith <john@smith.com>\nCOPY entrypoint.sh /\nENTRYPOINT [\"/entrypoint.sh\"]\n"),
        ("entrypoint.sh", "#!/bin/sh\nif [ $# -eq 0 ]; then fortune | cowsay; else cowsay \"$@\"; fi\n"),
    ]);
    compare(&dd, "guide-cowsay", ctx.path(), &[], None);

    // identidock's Dockerfile (without its RUNs): WORKDIR, COPY into it, EXPOSE, USER.
    let ctx = write_ctx(&[
        ("Dockerfile", "FROM scratch\nWORKDIR /app\nCOPY app /app\nCOPY cmd.sh /\nEXPOSE 9090 9191\nUSER uwsgi\nCMD [\"/cmd.sh\"]\n"),
        ("app/identidock.py", "from flask import Flask\n"),
        ("cmd.sh", "#!/bin/bash\nexec uwsgi\n"),
    ]);
    compare(&dd, "guide-identidock", ctx.path(), &[], None);

    // The guide's multi-stage "builder" pattern, plus an unrelated stage and --chown,
    // wildcards and an ADD of a local archive detected by content.
    let archive = {
        let mut b = tar::Builder::new(Vec::new());
        for (n, data) in [("pkg/", &b""[..]), ("pkg/lib.so", &b"ELF"[..])] {
            let mut h = tar::Header::new_gnu();
            if n.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
            } else {
                h.set_mode(0o644);
            }
            h.set_size(data.len() as u64);
            h.set_mtime(1_600_000_000);
            h.set_cksum();
            b.append_data(&mut h, n, data).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    };
    let ctx = write_ctx(&[
        ("Dockerfile", "FROM scratch AS builder\nCOPY req.txt /req.txt\nCOPY src /root/.local/lib/site-packages/\nADD vendor.bin /opt/vendor/\nFROM scratch AS unrelated\nCOPY req.txt /nothing\nFROM scratch\nCOPY --from=builder /root/.local/lib/site-packages /usr/local/lib/dist-packages\nCOPY --from=0 /opt/vendor /opt/vendor\nCOPY --chown=1000:1000 *.txt /docs/\nCOPY ./src /src\nCMD [\"python3\", \"/src/app.py\"]\nEXPOSE 8080\n"),
        ("req.txt", "flask\n"),
        ("notes.txt", "n\n"),
        ("src/app.py", "print(1)\n"),
        ("src/pkg/__init__.py", ""),
    ]);
    fs::write(ctx.path().join("vendor.bin"), &archive).unwrap();
    compare(&dd, "guide-multistage", ctx.path(), &[], None);
    compare(
        &dd,
        "guide-multistage-target",
        ctx.path(),
        &[],
        Some("builder"),
    );

    // .dockerignore that excludes itself and the Dockerfile (the CLI still sends them,
    // the daemon drops them), exceptions inside an excluded directory, `**`, and
    // symlinks inside a copied directory.
    let ctx = write_ctx(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY . /app\nCOPY docs/keep/*.md /md/\n",
        ),
        (
            ".dockerignore",
            "Dockerfile\n.dockerignore\ndocs\n!docs/keep\n**/*.tmp\n",
        ),
        ("docs/drop.md", "drop\n"),
        ("docs/keep/a.md", "a\n"),
        ("docs/keep/b.tmp", "tmp\n"),
        ("src/x.tmp", "tmp\n"),
        ("src/main.c", "int main(){}\n"),
    ]);
    std::os::unix::fs::symlink("main.c", ctx.path().join("src/link.c")).unwrap();
    std::os::unix::fs::symlink("../docs/keep", ctx.path().join("src/dir-link")).unwrap();
    compare(&dd, "dockerignore", ctx.path(), &[], None);

    // Substitution and parsing corner cases: backtick escape directive, legacy
    // `ENV k v`, same-instruction references, `${v:-w}`/`${v:+w}`, quotes and
    // escapes, EXPOSE word splitting, JSON VOLUME, numeric STOPSIGNAL, continuation
    // lines with comments inside, ARG defaults from build args.
    let ctx = write_ctx(&[
        ("Dockerfile", "# escape=`\nFROM scratch\nENV ABC=hello\nENV ABC=bye DEF=$ABC\nENV LEGACY value with  spaces\nARG PORTS=\"80 443/udp\"\nARG USERNAME\nARG EMPTY=\nENV U=${USERNAME:-nobody} S=${EMPTY:+set} Q='$ABC' D=\"$ABC `$ABC\"\nEXPOSE $PORTS 9000-9001\nLABEL a=1 `\n# comment inside\n  b=\"two words\"\nVOLUME [\"/v1\", \"/v2\"]\nSTOPSIGNAL 9\nUSER ${USERNAME}:staff\nWORKDIR /w/$DEF\nCOPY [\"file with space.txt\", \"/dst/\"]\n"),
        ("file with space.txt", "s\n"),
    ]);
    compare(
        &dd,
        "substitution",
        ctx.path(),
        &[("USERNAME", "app")],
        None,
    );

    // ONBUILD triggers, inherited config and "ENTRYPOINT resets the inherited CMD",
    // on a base image built by dockerd.
    let parent = write_ctx(&[
        ("Dockerfile", "FROM scratch\nENV PATH=/custom/bin GREETING=hello\nCOPY base.txt /base/\nWORKDIR /srv\nCMD [\"base-cmd\"]\nONBUILD COPY . /app/src\nONBUILD ENV BUILT=yes\n"),
        ("base.txt", "base\n"),
    ]);
    compare(&dd, "onbuild-parent", parent.path(), &[], None);
    let child = write_ctx(&[
        (
            "Dockerfile",
            "FROM case-onbuild-parent\nENTRYPOINT [\"/ep\"]\nLABEL x=$GREETING\nWORKDIR rel\n",
        ),
        ("main.py", "print('child')\n"),
    ]);
    compare(&dd, "onbuild-child", child.path(), &[], None);

    // ADD of URLs served on 127.0.0.1 (never extracted, mode 0600).
    if Command::new("curl").arg("--version").output().is_err() {
        println!("SKIP: curl not installed; ADD <url> case not run");
        return;
    }
    let served = write_ctx(&[("files/readme.txt", "read me\n")]);
    fs::write(served.path().join("files/tool.tar.gz"), &archive).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(served.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let df = format!(
        "FROM scratch\nADD http://127.0.0.1:{port}/files/tool.tar.gz /opt/\nADD http://127.0.0.1:{port}/files/readme.txt /doc/README\n"
    );
    let ctx = write_ctx(&[("Dockerfile", &df)]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        compare(&dd, "add-url", ctx.path(), &[], None)
    }));
    let _ = server.kill();
    let _ = server.wait();
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}
