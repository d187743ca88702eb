//! End-to-end builds against a real `berth daemon`: the guide's Dockerfile examples
//! on a busybox base (imported from Debian's static busybox), the build cache,
//! error positions and cleanup, `docker build` (legacy builder) against berth, and
//! `commit`.

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::*;

/// A context directory with the given files (path, content).
fn context(d: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.dir.path().join(name);
    for (p, c) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, c).unwrap();
    }
    dir
}

fn build(d: &Daemon, args: &[&str], ctx: &Path) -> Output {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    a.push(ctx.to_str().unwrap());
    d.berth(&a)
}

fn inspect(d: &Daemon, fmt: &str, image: &str) -> String {
    ok(d.berth(&["image", "inspect", "-f", fmt, image]))
        .trim()
        .to_string()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn image_ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = ok(d.berth(&["images", "-aq", "--no-trunc"]))
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// No mount under the daemon's directories remains.
/// Mounts under `dir`, leaving out the daemon's pinned spare network namespaces
/// (`<exec-root>/netns/spare-*`, kept ready for the next container start).
fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&want) && !m.contains("/netns/spare-"))
        .map(String::from)
        .collect()
}

#[test]
fn guide_entrypoint_script_with_and_without_args() {
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "cowsay",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY entrypoint.sh /\nRUN /bin/busybox chmod 755 /entrypoint.sh\nENTRYPOINT [\"/entrypoint.sh\"]\n",
            ),
            (
                "entrypoint.sh",
                "#!/bin/sh\nif [ $# -eq 0 ]; then\n  echo \"Moo: nothing to say\"\nelse\n  echo \"Moo: $@\"\nfi\n",
            ),
        ],
    );
    let out = ok(build(&d, &["-t", "test/cowsay-dockerfile"], &ctx));
    assert!(out.contains("Step 1/4 : FROM busybox"), "{out}");
    assert!(
        out.contains("Step 4/4 : ENTRYPOINT [\"/entrypoint.sh\"]"),
        "{out}"
    );
    assert!(
        out.contains("Successfully tagged test/cowsay-dockerfile:latest"),
        "{out}"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", "test/cowsay-dockerfile"])),
        "Moo: nothing to say\n"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", "test/cowsay-dockerfile", "Hello", "Moo"])),
        "Moo: Hello Moo\n"
    );
    // ENTRYPOINT reset the inherited CMD, as Docker does.
    let cfg = inspect(&d, "{{json .Config}}", "test/cowsay-dockerfile");
    assert!(!cfg.contains(r#""Cmd":["#), "{cfg}");
    // Build containers are gone.
    assert_eq!(ok(d.berth(&["ps", "-aq"])), "");
}

#[test]
fn guide_build_arg_becomes_env() {
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "args",
        &[(
            "Dockerfile",
            "FROM busybox\nARG VERSION=1.0\nENV APP_VERSION=$VERSION\nRUN echo \"built $VERSION\" > /version\nCMD [\"sh\", \"-c\", \"echo $APP_VERSION; cat /version\"]\n",
        )],
    );
    ok(build(&d, &["-t", "app:default"], &ctx));
    ok(build(
        &d,
        &["-t", "app:custom", "--build-arg", "VERSION=2.5"],
        &ctx,
    ));
    assert_eq!(
        ok(d.berth(&["run", "--rm", "app:default"])),
        "1.0\nbuilt 1.0\n"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", "app:custom"])),
        "2.5\nbuilt 2.5\n"
    );
    let hist = ok(d.berth(&["history", "--no-trunc", "app:custom"]));
    assert!(hist.contains("|1 VERSION=2.5 /bin/sh -c echo"), "{hist}");
    // An unused --build-arg is reported.
    let out = ok(build(&d, &["--build-arg", "NOPE=1"], &ctx));
    assert!(
        out.contains("[Warning] One or more build-args [NOPE] were not consumed"),
        "{out}"
    );
}

#[test]
fn guide_multi_stage_builder_pattern_and_target() {
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "multi",
        &[(
            "Dockerfile",
            "FROM busybox AS builder\nRUN mkdir /out && echo compiled > /out/app\nRUN echo junk > /out/junk\n\
             FROM busybox AS unrelated\nRUN exit 9\n\
             FROM busybox AS docs\nRUN mkdir /d && echo manual > /d/README\n\
             FROM busybox\nCOPY --from=builder /out/app /usr/local/bin/app\nCOPY --from=docs /d /usr/share/doc/\nCMD [\"cat\", \"/usr/local/bin/app\", \"/usr/share/doc/README\"]\n",
        )],
    );
    // The failing `unrelated` stage is not needed, so it is not built.
    let out = ok(build(&d, &["-t", "multi"], &ctx));
    assert!(!out.contains("exit 9"), "{out}");
    assert_eq!(ok(d.berth(&["run", "--rm", "multi"])), "compiled\nmanual\n");
    // Only busybox's layer plus the two COPY layers: nothing of the builder stage.
    assert_eq!(inspect(&d, "{{len .RootFS.Layers}}", "multi"), "3");
    ok(build(
        &d,
        &["-t", "multi-builder", "--target", "builder"],
        &ctx,
    ));
    assert_eq!(
        ok(d.berth(&["run", "--rm", "multi-builder", "cat", "/out/junk"])),
        "junk\n"
    );
    let o = build(&d, &["--target", "nope"], &ctx);
    assert!(fails(o).contains("target stage \"nope\" could not be found"),);
}

#[test]
fn guide_dockerignore() {
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "ignore",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"-a\", \"/ctx\", \"/ctx/src\"]\n",
            ),
            (".dockerignore", "secret.txt\nlogs\n**/*.tmp\n!keep.tmp\n"),
            ("secret.txt", "password"),
            ("logs/a.log", "x"),
            ("src/main.c", "int main;"),
            ("src/x.tmp", "t"),
            ("keep.tmp", "k"),
        ],
    );
    ok(build(&d, &["-t", "ign"], &ctx));
    let ls = ok(d.berth(&["run", "--rm", "ign"]));
    let names: Vec<&str> = ls.split_whitespace().collect();
    assert!(names.contains(&"keep.tmp"), "{ls}");
    assert!(names.contains(&"main.c"), "{ls}");
    assert!(names.contains(&"Dockerfile"), "{ls}");
    for gone in ["secret.txt", "logs", "x.tmp"] {
        assert!(!names.contains(&gone), "{gone} was copied: {ls}");
    }
}

#[test]
fn guide_delete_in_same_layer_vs_later_layer() {
    let d = Daemon::with_busybox();
    let base: u64 = inspect(&d, "{{.Size}}", "busybox").parse().unwrap();
    let same = context(
        &d,
        "same",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN /bin/busybox dd if=/dev/zero of=/big bs=1024 count=4096 && rm /big\n",
        )],
    );
    let later = context(
        &d,
        "later",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN /bin/busybox dd if=/dev/zero of=/big bs=1024 count=4096\nRUN rm /big\n",
        )],
    );
    ok(build(&d, &["-t", "same"], &same));
    ok(build(&d, &["-t", "later"], &later));
    let s: u64 = inspect(&d, "{{.Size}}", "same").parse().unwrap();
    let l: u64 = inspect(&d, "{{.Size}}", "later").parse().unwrap();
    assert!(
        s < base + 64 * 1024,
        "same-RUN delete kept data: {s} vs base {base}"
    );
    assert!(
        l >= base + 4 * 1024 * 1024,
        "later delete: {l} vs base {base}"
    );
    // The file is gone from the later image all the same (a whiteout).
    let o = d.berth(&["run", "--rm", "later", "ls", "/big"]);
    assert_ne!(code(&o), 0);
    // A RUN that changes nothing records an empty layer.
    let noop = context(&d, "noop", &[("Dockerfile", "FROM busybox\nRUN true\n")]);
    ok(build(&d, &["-t", "noop"], &noop));
    assert_eq!(inspect(&d, "{{len .RootFS.Layers}}", "noop"), "1");
}

#[test]
fn cache_hits_invalidation_restart_and_no_cache() {
    let mut d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "cache",
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\nCMD [\"cat\", \"/copy\", \"/b.txt\"]\n",
            ),
            ("a.txt", "one\n"),
            ("b.txt", "bee\n"),
        ],
    );
    let first = ok(build(&d, &["-t", "c"], &ctx));
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = inspect(&d, "{{.Id}}", "c");
    let second = ok(build(&d, &["-t", "c"], &ctx));
    assert_eq!(second.matches(" ---> Using cache").count(), 5, "{second}");
    assert_eq!(inspect(&d, "{{.Id}}", "c"), id1);
    // Touching a file (same content) keeps the cache: mtimes never count.
    let f = ctx.join("a.txt");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000))
        .unwrap();
    let touched = ok(build(&d, &["-t", "c"], &ctx));
    assert_eq!(touched.matches(" ---> Using cache").count(), 5, "{touched}");
    // Changing a.txt invalidates from its COPY on, not before.
    std::fs::write(&f, "two\n").unwrap();
    let changed = ok(build(&d, &["-t", "c"], &ctx));
    assert_eq!(changed.matches(" ---> Using cache").count(), 1, "{changed}");
    let env_step = changed.find("Step 2/6").unwrap();
    let copy_step = changed.find("Step 3/6").unwrap();
    assert!(
        changed[env_step..copy_step].contains("Using cache"),
        "{changed}"
    );
    assert_eq!(ok(d.berth(&["run", "--rm", "c"])), "two\nbee\n");
    // A same-size rewrite with the same mtime is a change all the same: content
    // counts, never metadata alone.
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "six\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let same_size = ok(build(&d, &["-t", "c"], &ctx));
    assert_eq!(
        same_size.matches(" ---> Using cache").count(),
        1,
        "{same_size}"
    );
    assert_eq!(ok(d.berth(&["run", "--rm", "c"])), "six\nbee\n");
    // The cache survives a daemon restart.
    d.kill9();
    d.spawn();
    let after = ok(build(&d, &["-t", "c"], &ctx));
    assert_eq!(after.matches(" ---> Using cache").count(), 5, "{after}");
    let nocache = ok(build(&d, &["--no-cache", "-t", "c"], &ctx));
    assert!(!nocache.contains("Using cache"), "{nocache}");
    assert_eq!(ok(d.berth(&["run", "--rm", "c"])), "six\nbee\n");
}

#[test]
fn errors_name_file_and_line_and_leave_nothing_behind() {
    let d = Daemon::with_busybox();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "FROM busybox\nFOO bar\n",
            "unknown",
            &["Dockerfile:2", "unknown instruction: FOO"],
        ),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "missing",
            &["Dockerfile:2", "missing.txt"],
        ),
        (
            "FROM busybox\nENV A=1\nRUN exit 3\n",
            "run",
            &[
                "Dockerfile:3",
                "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
            ],
        ),
        (
            "FROM busybox\nCOPY --from=nostage /x /x\n",
            "stage",
            &["Dockerfile:2", "nostage"],
        ),
        (
            "FROM nosuchimage\nRUN true\n",
            "base",
            &["Dockerfile:1", "nosuchimage"],
        ),
        (
            "FROM busybox\nEXPOSE 80/xyz\n",
            "expose",
            &["Dockerfile:2", "invalid proto: xyz"],
        ),
    ];
    let before = image_ids(&d);
    for (df, name, wants) in cases {
        let ctx = context(&d, &format!("err-{name}"), &[("Dockerfile", df)]);
        let o = build(&d, &[], &ctx);
        let err = fails(o);
        for w in *wants {
            assert!(err.contains(w), "{name}: {w:?} not in {err:?}");
        }
    }
    let ctx = context(
        &d,
        "err-code",
        &[("Dockerfile", "FROM busybox\nRUN exit 3\n")],
    );
    assert_eq!(code(&build(&d, &[], &ctx)), 3);
    // Only the ENV step of the `run` case committed an image (a cache entry, as
    // Docker keeps it); nothing else was recorded, and nothing is left running or
    // mounted.
    let after = image_ids(&d);
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    assert_eq!(ok(d.berth(&["ps", "-aq"])), "");
    assert!(
        mounts_under(d.dir.path()).is_empty(),
        "{:?}",
        mounts_under(d.dir.path())
    );
    let tmp: Vec<_> = std::fs::read_dir(d.data_root().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn docker_cli_legacy_builder_against_berth() {
    if !have("docker") {
        eprintln!("skipping: no docker CLI");
        return;
    }
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "dockercli",
        &[
            ("Dockerfile", "FROM busybox\nWORKDIR /app\nCOPY hello.txt .\nRUN cat hello.txt\nCMD [\"cat\", \"/app/hello.txt\"]\n"),
            ("hello.txt", "hello from docker build\n"),
        ],
    );
    let iid = d.dir.path().join("iid");
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(["build", "-t", "viadocker:1", "--iidfile"])
        .arg(&iid)
        .arg(&ctx)
        .output()
        .unwrap();
    let out = ok(o);
    assert!(out.contains("Step 4/5 : RUN cat hello.txt"), "{out}");
    assert!(out.contains("hello from docker build"), "{out}");
    assert!(out.contains("Successfully tagged viadocker:1"), "{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(id, inspect(&d, "{{.Id}}", "viadocker:1"));
    assert_eq!(
        ok(d.docker(&["run", "--rm", "viadocker:1"])),
        "hello from docker build\n"
    );
    // A failing RUN: docker exits with the command's code.
    let bad = context(
        &d,
        "dockerbad",
        &[("Dockerfile", "FROM busybox\nRUN exit 7\n")],
    );
    let o = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .arg("build")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("returned a non-zero code: 7"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn build_from_stdin_quiet_iidfile_and_labels() {
    let d = Daemon::with_busybox();
    let df = d.dir.path().join("Dockerfile.stdin");
    std::fs::write(&df, "FROM busybox\nLABEL a=b\nRUN echo hi\n").unwrap();
    let iid = d.dir.path().join("iid2");
    let o = d.berth_stdin(
        &[
            "build",
            "-q",
            "--label",
            "team=core",
            "-t",
            "one",
            "-t",
            "two:x",
            "--iidfile",
            iid.to_str().unwrap(),
            "-",
        ],
        &df,
    );
    let out = ok(o);
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(out.trim(), id);
    assert_eq!(inspect(&d, "{{.Id}}", "two:x"), id);
    assert_eq!(inspect(&d, "{{.Id}}", "one"), id);
    let labels = inspect(&d, "{{json .Config.Labels}}", "one");
    assert!(
        labels.contains(r#""a":"b""#) && labels.contains(r#""team":"core""#),
        "{labels}"
    );
}

#[test]
fn onbuild_healthcheck_add_archive_and_url() {
    let d = Daemon::with_busybox();
    // A gzip tar for ADD to unpack, and an HTTP server on 127.0.0.1 for ADD <url>.
    let mut tarball = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tarball, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(6);
        b.append_data(&mut h, "inside/file.txt", &b"packed"[..])
            .unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten().take(4) {
            use std::io::{Read, Write};
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = b"downloaded\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    let parent = context(
        &d,
        "onbuild-parent",
        &[(
            "Dockerfile",
            "FROM busybox\nONBUILD RUN echo triggered > /onbuild\nHEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true\n",
        )],
    );
    ok(build(&d, &["-t", "parent"], &parent));
    let child_df = format!(
        "FROM parent\nADD pack.tar /opt/\nADD http://127.0.0.1:{port}/files/remote.txt /remote.txt\nCMD [\"cat\", \"/onbuild\", \"/opt/inside/file.txt\", \"/remote.txt\"]\n"
    );
    let child = context(&d, "onbuild-child", &[("Dockerfile", &child_df)]);
    std::fs::write(child.join("pack.tar"), &tarball).unwrap();
    let out = ok(build(&d, &["-t", "child"], &child));
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "child"])),
        "triggered\npackeddownloaded\n"
    );
    let hc = inspect(&d, "{{json .Config.Healthcheck}}", "child");
    for want in [
        r#""Test":["CMD-SHELL","true"]"#,
        r#""Interval":5000000000"#,
        r#""Timeout":2000000000"#,
        r#""Retries":4"#,
    ] {
        assert!(hc.contains(want), "{want} not in {hc}");
    }
    // Triggers run once: the child carries none.
    let cfg = inspect(&d, "{{json .Config}}", "child");
    assert!(!cfg.contains(r#""OnBuild":["#), "{cfg}");
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "child",
            "/bin/busybox",
            "stat",
            "-c",
            "%a",
            "/remote.txt"
        ]))
        .trim(),
        "600"
    );
}

#[test]
fn commit_container_changes() {
    let d = Daemon::with_busybox();
    ok(d.berth(&[
        "run",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello",
    ]));
    let id = ok(d.berth(&[
        "commit",
        "-m",
        "said hi",
        "-a",
        "Me <me@x>",
        "-c",
        "CMD [\"cat\", \"/hello\"]",
        "-c",
        "ENV GREETING=hi",
        "w",
        "greeter:v1",
    ]));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(ok(d.berth(&["run", "--rm", "greeter:v1"])), "hi\n");
    assert_eq!(inspect(&d, "{{.Author}}", "greeter:v1"), "Me <me@x>");
    assert_eq!(inspect(&d, "{{.Comment}}", "greeter:v1"), "said hi");
    assert!(inspect(&d, "{{json .Config.Env}}", "greeter:v1").contains("GREETING=hi"));
    assert_eq!(inspect(&d, "{{len .RootFS.Layers}}", "greeter:v1"), "2");
    // A container that changed nothing commits an empty layer: the runtime's mount
    // points (/etc/hosts, /proc, …) are not changes.
    ok(d.berth(&["run", "--name", "idle", "busybox", "true"]));
    ok(d.berth(&["commit", "idle", "idle:v1"]));
    assert_eq!(inspect(&d, "{{len .RootFS.Layers}}", "idle:v1"), "1");
    // The docker CLI drives the same endpoint.
    if have("docker") {
        let out = ok(d.docker(&["commit", "-c", "LABEL via=docker", "w", "viadocker-commit"]));
        assert!(out.trim().starts_with("sha256:"), "{out}");
        assert_eq!(
            inspect(&d, "{{json .Config.Labels}}", "viadocker-commit"),
            r#"{"via":"docker"}"#
        );
    }
}

/// What a build left behind, besides the images that were there before: containers,
/// images, mounts, temp and context directories, the RUN container's pinned network
/// namespace and veth (the daemon's spare namespaces aside).
fn build_leftovers(d: &Daemon, images_before: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    let ps = ok(d.berth(&["ps", "-a"]));
    if ps.lines().count() > 1 {
        left.push(format!("containers: {ps}"));
    }
    let images = image_ids(d);
    if images != images_before {
        left.push(format!("images: {images:?}"));
    }
    let mounts = mounts_under(d.dir.path());
    if !mounts.is_empty() {
        left.push(format!("mounts: {mounts:?}"));
    }
    let names = |dir: PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let tmp = names(d.data_root().join("tmp"));
    if !tmp.is_empty() {
        left.push(format!("tmp/: {tmp:?}"));
    }
    let ctxs: Vec<String> = names(d.data_root().join("builder"))
        .into_iter()
        .filter(|n| n.starts_with("context-"))
        .collect();
    if !ctxs.is_empty() {
        left.push(format!("builder/: {ctxs:?}"));
    }
    let netns: Vec<String> = names(d.dir.path().join("exec/netns"))
        .into_iter()
        .filter(|n| !n.starts_with("spare-"))
        .collect();
    if !netns.is_empty() {
        left.push(format!("netns: {netns:?}"));
    }
    let suffix = format!(":{}", d.data_root().display());
    let veths: Vec<String> = names(PathBuf::from("/sys/class/net"))
        .into_iter()
        .filter(|n| n.starts_with("veth"))
        .filter(|n| {
            std::fs::read_to_string(format!("/sys/class/net/{n}/ifalias"))
                .is_ok_and(|a| a.trim_end().ends_with(&suffix))
        })
        .collect();
    if !veths.is_empty() {
        left.push(format!("veths: {veths:?}"));
    }
    left
}

/// Nothing of a cancelled build remains within `within`.
#[track_caller]
fn assert_nothing_left(d: &Daemon, images_before: &[String], what: &str, within: Duration) {
    let t = Instant::now();
    loop {
        let left = build_leftovers(d, images_before);
        if left.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < within,
            "{what}: left after {:?}: {left:#?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the build's RUN container is up.
#[track_caller]
fn wait_for_run_container(d: &Daemon, what: &str) {
    let t = std::time::Instant::now();
    while ok(d.berth(&["ps", "-q"])).trim().is_empty() {
        assert!(
            t.elapsed().as_secs() < 20,
            "{what}: the RUN container never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A client that goes away during a RUN step cancels the build: the RUN container is
/// killed and removed with its network endpoint, and nothing of the build remains.
/// Three ways: the CLI killed during a quiet step; the CLI killed during a step that
/// prints all the time (the cancellation check used to wait for a pause in the
/// output); and a raw HTTP client whose context tar ends in chunks of their own (the
/// daemon stopped reading the body at the first end-of-archive block, so it never saw
/// the connection close while the step was quiet).
#[test]
fn interrupted_build_leaves_nothing_behind() {
    let d = Daemon::with_busybox();
    let before = image_ids(&d);
    let cli_cases = [
        ("quiet", "FROM busybox\nRUN echo started && sleep 30 && echo never > /x\n"),
        (
            "chatty",
            "FROM busybox\nRUN i=0; while [ $i -lt 600 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; echo never > /x\n",
        ),
    ];
    for (name, df) in cli_cases {
        let ctx = context(&d, &format!("interrupt-{name}"), &[("Dockerfile", df)]);
        let mut child = Command::new(BERTH)
            .env("BERTH_HOST", d.host())
            .args(["build", "-t", "interrupted"])
            .arg(&ctx)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_run_container(&d, name);
        // Let the chatty step print for a while first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        child.kill().unwrap();
        let _ = child.wait();
        assert_nothing_left(&d, &before, name, Duration::from_secs(5));
    }

    // The raw client: a chunked body whose end-of-archive blocks come as chunks of
    // their own, then silence until the connection is dropped.
    use std::io::{Read, Write};
    let df = b"FROM busybox\nRUN sleep 30 && echo never > /x\n";
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(df.len() as u64);
    tar.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let entries = 512 + df.len().div_ceil(512) * 512;
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.write_all(
        b"POST /v1.47/build?t=interrupted HTTP/1.1\r\nHost: berth\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    for part in [
        &tar[..entries],
        &tar[entries..entries + 512],
        &tar[entries + 512..],
    ] {
        s.write_all(format!("{:x}\r\n", part.len()).as_bytes())
            .unwrap();
        s.write_all(part).unwrap();
        s.write_all(b"\r\n").unwrap();
        s.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("Running in") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    wait_for_run_container(&d, "raw");
    drop(s);
    assert_nothing_left(&d, &before, "raw", Duration::from_secs(5));
}

/// A finished build removes its context directory too.
#[test]
fn context_dirs_are_reused_and_pruned() {
    let d = Daemon::with_busybox();
    let ctx = context(
        &d,
        "ctxdir",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt\n",
            ),
            ("a.txt", "hello\n"),
            ("old.txt", "only in the first context\n"),
        ],
    );
    let builder = d.data_root().join("builder");
    let contexts = || -> Vec<String> {
        std::fs::read_dir(&builder)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("context-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = ok(build(&d, &["-t", "ctxdir"], &ctx));
    assert!(first.contains("hello"), "{first}");
    // One slot, kept for the next build, holding this context.
    assert_eq!(contexts(), vec!["context-0".to_string()]);
    let slot = builder.join("context-0");
    assert!(slot.join("old.txt").is_file());
    // The next build's context replaces it: files it no longer has are pruned.
    std::fs::remove_file(ctx.join("old.txt")).unwrap();
    let again = ok(build(&d, &["-t", "ctxdir"], &ctx));
    assert_eq!(again.matches(" ---> Using cache").count(), 2, "{again}");
    assert_eq!(contexts(), vec!["context-0".to_string()]);
    assert!(!slot.join("old.txt").exists(), "stale context file kept");
    assert_eq!(
        std::fs::read_to_string(slot.join("a.txt")).unwrap(),
        "hello\n"
    );
    // A failed build keeps it too (the usual edit-and-rebuild loop).
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 7\n").unwrap();
    assert_eq!(code(&build(&d, &[], &ctx)), 7);
    assert_eq!(contexts(), vec!["context-0".to_string()]);
}

/// The berth CLI leaves unchanged files out of the context it sends (the daemon keeps
/// them from the last upload, `berth_build::upload`); a changed file is sent, and a
/// daemon copy changed behind its back makes the CLI send everything again.
#[test]
fn incremental_context_upload() {
    let d = Daemon::with_busybox_env(&[("BERTH_LOG", "info,berth_build=debug")]);
    let mut files: Vec<(String, String)> = (0..40)
        .map(|i| (format!("data/f{i}"), format!("content {i:03}\n")))
        .collect();
    files.push((
        "Dockerfile".into(),
        "FROM busybox\nCOPY data /data\nRUN cat /data/f7\n".into(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let ctx = context(&d, "incr", &refs);
    // Stamps of files changed within the last 2 s are not trusted (racy window).
    std::thread::sleep(Duration::from_millis(2200));
    let uploads = || -> Vec<(usize, usize)> {
        d.log()
            .lines()
            .filter(|l| l.contains("incremental context upload"))
            .map(|l| {
                let field = |k: &str| -> usize {
                    l.split(&format!("{k}="))
                        .nth(1)
                        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(usize::MAX)
                };
                (field("kept"), field("recorded"))
            })
            .collect()
    };
    let first = ok(build(&d, &["-t", "incr"], &ctx));
    assert!(first.contains("content 007"), "{first}");
    assert_eq!(uploads(), vec![(0, 0)]);
    // Unchanged: all 40 data files are left out, and the cache holds.
    let second = ok(build(&d, &["-t", "incr"], &ctx));
    assert_eq!(second.matches(" ---> Using cache").count(), 2, "{second}");
    assert_eq!(uploads()[1], (40, 40));
    // A same-size rewrite of one file: it is sent, the COPY step reruns.
    std::fs::write(ctx.join("data/f7"), "content 777\n").unwrap();
    let third = ok(build(&d, &["-t", "incr"], &ctx));
    assert!(third.contains("content 777"), "{third}");
    assert_eq!(third.matches(" ---> Using cache").count(), 0, "{third}");
    assert_eq!(uploads()[2].0, 39);
    // The daemon's copy of a kept file changes: the upload is refused as stale and the
    // CLI sends the whole context; the image has the client's content.
    std::thread::sleep(Duration::from_millis(2200));
    let slot_copy = std::fs::read_dir(d.data_root().join("builder"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("data/f3"))
        .find(|p| p.is_file())
        .expect("the slot holding the context");
    std::fs::write(&slot_copy, "tampered 3\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY data /data\nRUN cat /data/f3\n",
    )
    .unwrap();
    let fourth = ok(build(&d, &["-t", "incr"], &ctx));
    assert!(fourth.contains("content 003"), "{fourth}");
    let u = uploads();
    assert_eq!(u.len(), 5, "{u:?}");
    // f7 was racy when last sent (no stamp), so 39 are kept.
    assert_eq!(u[3].0, 39);
    assert_eq!(u[4].0, 0, "the retry sends everything");
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "incr",
            "cat",
            "/data/f3",
            "/data/f7"
        ])),
        "content 003\ncontent 777\n"
    );
}

#[test]
fn independent_stages_build_in_parallel() {
    let d = Daemon::with_busybox();
    // Two independent stages that each take 3 s: in sequence that is at least 6 s.
    let ctx = context(
        &d,
        "parallel",
        &[(
            "Dockerfile",
            "FROM busybox AS a\nRUN sleep 3 && echo a > /a\n\
             FROM busybox AS b\nRUN sleep 3 && echo b > /b\n\
             FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD [\"cat\", \"/a\", \"/b\"]\n",
        )],
    );
    let t = std::time::Instant::now();
    let out = ok(build(&d, &["-t", "par"], &ctx));
    let took = t.elapsed();
    assert!(
        took < std::time::Duration::from_millis(5500),
        "stages a and b ran one after the other ({took:?})"
    );
    // The output still reads in Dockerfile order.
    let a = out.find("Step 2/8 : RUN sleep 3 && echo a").unwrap();
    let b = out.find("Step 4/8 : RUN sleep 3 && echo b").unwrap();
    assert!(a < b, "{out}");
    assert_eq!(ok(d.berth(&["run", "--rm", "par"])), "a\nb\n");
}
