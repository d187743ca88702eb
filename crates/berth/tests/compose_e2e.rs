//! End-to-end `berth compose` against a real `berth daemon` (real containers): the
//! guide's v1 registry file with a busybox httpd stand-in (up -d, curl on 127.0.0.1,
//! ps, logs, stop, start, rm -f), a v1 app reaching another service by link alias, a v3
//! file with depends_on, a named volume and discovery by service name on the project
//! network, build + up recreating only the changed service while its volumes keep
//! their data, `down -v` leaving nothing labelled with the project, `up` attached
//! until Ctrl-C, and the real docker-compose 1.29 driving berth's daemon. Traffic only
//! goes to 127.0.0.1 and to berth's own bridges.

mod support;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A busybox rootfs with the network applets and a web root.
fn web_tar(dir: &Path) -> PathBuf {
    busybox_web_tar(
        dir,
        "busybox-web.tar",
        &["bin/", "etc/", "tmp/", "www/", "data/"],
        &[
            "sh", "echo", "cat", "true", "sleep", "env", "grep", "httpd", "wget", "nc", "nslookup",
            "hostname", "ls", "mkdir", "touch",
        ],
    )
}

fn daemon() -> Daemon {
    let d = Daemon::start();
    let tar = web_tar(d.dir.path());
    ok(d.berth(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV PATH=/bin",
        tar.to_str().unwrap(),
        "web",
    ]));
    d
}

/// A project directory named `name` under the daemon's temp dir.
fn project_dir(d: &Daemon, name: &str, compose: &str) -> PathBuf {
    let dir = d.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
    dir
}

fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .env_remove("COMPOSE_PROJECT_NAME")
        .current_dir(dir)
        .arg("compose")
        .args(args)
        .output()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0 on 127.0.0.1, retried until the server answers 200.
fn http_get(port: u16, path: &str) -> String {
    let t = Instant::now();
    loop {
        let r = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match r {
            Ok(o) if o.contains(" 200 ") => return o,
            other if t.elapsed() > Duration::from_secs(10) => {
                panic!("GET 127.0.0.1:{port}{path}: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Retries `f` until it returns Some or 10 s pass.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if t.elapsed() > Duration::from_secs(10) {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Objects of each kind labelled with the project: (containers, networks, volumes).
fn labelled(d: &Daemon, project: &str) -> (usize, usize, usize) {
    let f = format!("label=com.docker.compose.project={project}");
    let count = |args: &[&str]| {
        ok(d.docker(args))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    (
        count(&["ps", "-aq", "--filter", &f]),
        count(&["network", "ls", "-q", "--filter", &f]),
        count(&["volume", "ls", "-q", "--filter", &f]),
    )
}

fn inspect(d: &Daemon, fmt: &str, what: &str) -> String {
    ok(d.docker(&["inspect", "-f", fmt, what]))
        .trim()
        .to_string()
}

const REGISTRY_V1: &str = r#"registry:
  restart: always
  image: web
  command: sh -c 'echo registry starting; exec httpd -f -v -p 80 -h /var/lib/registry'
  ports:
    - "127.0.0.1:PORT:80"
  environment:
    REGISTRY_HTTP_ADDR: 0.0.0.0:5000
    REGISTRY_HTTP_HOST: https://registry.example.test
  volumes:
    - ./data:/var/lib/registry
"#;

#[test]
fn v1_registry_lifecycle() {
    let d = daemon();
    let port = free_port();
    let dir = project_dir(
        &d,
        "Registry.App",
        &REGISTRY_V1.replace("PORT", &port.to_string()),
    );
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/index.html"), "registry stand-in\n").unwrap();

    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("registryapp_registry_1  Started"), "{err}");
    let body = http_get(port, "/index.html");
    assert!(body.contains("registry stand-in"), "{body}");

    // The v1 semantics: `<project>_<service>_1`, the default bridge, no project network.
    let name = "registryapp_registry_1";
    assert!(inspect(&d, "{{json .NetworkSettings.Networks}}", name).contains("\"bridge\""));
    assert_eq!(labelled(&d, "registryapp"), (1, 0, 0));
    assert_eq!(
        inspect(&d, "{{.HostConfig.RestartPolicy.Name}}", name),
        "always"
    );
    let env = inspect(&d, "{{json .Config.Env}}", name);
    assert!(
        env.contains("REGISTRY_HTTP_HOST=https://registry.example.test"),
        "{env}"
    );
    let labels = inspect(&d, "{{json .Config.Labels}}", name);
    for l in [
        "\"com.docker.compose.project\":\"registryapp\"",
        "\"com.docker.compose.service\":\"registry\"",
        "\"com.docker.compose.container-number\":\"1\"",
        "\"com.docker.compose.oneoff\":\"False\"",
        "\"com.docker.compose.config-hash\":\"",
        "\"com.docker.compose.project.working_dir\":\"",
        "\"com.docker.compose.project.config_files\":\"",
        "\"com.docker.compose.version\":\"",
        "\"com.docker.compose.image\":\"sha256:",
    ] {
        assert!(labels.contains(l), "{l} missing in {labels}");
    }
    let id = inspect(&d, "{{.Id}}", name);

    // Re-running up with no change leaves the running container alone.
    let out = compose(&d, &dir, &["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("registryapp_registry_1 is up-to-date"),
        "{}",
        stderr(&out)
    );
    assert_eq!(inspect(&d, "{{.Id}}", name), id);

    let ps = ok(compose(&d, &dir, &["ps"]));
    assert!(ps.starts_with("NAME"), "{ps}");
    let row = ps
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(
        row.contains("Up") && row.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{row}"
    );
    assert_eq!(ok(compose(&d, &dir, &["ps", "-q"])).trim(), id);

    let logs = ok(compose(&d, &dir, &["logs"]));
    assert!(logs.contains("registry-1  | registry starting"), "{logs}");
    let logs = ok(compose(
        &d,
        &dir,
        &["logs", "--tail", "1", "-t", "registry"],
    ));
    assert_eq!(logs.lines().count(), 1, "{logs}");

    let out = compose(&d, &dir, &["stop", "-t", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(inspect(&d, "{{.State.Running}}", name), "false");
    assert_eq!(ok(compose(&d, &dir, &["ps", "-q"])).trim(), "");
    assert!(ok(compose(&d, &dir, &["ps", "-a"])).contains("Exited"));

    ok(compose(&d, &dir, &["start"]));
    assert_eq!(inspect(&d, "{{.State.Running}}", name), "true");
    assert!(http_get(port, "/index.html").contains("registry stand-in"));
    assert_eq!(inspect(&d, "{{.Id}}", name), id);

    // rm without -s leaves running containers; -s -f stops and removes.
    ok(compose(&d, &dir, &["rm", "-f"]));
    assert_eq!(labelled(&d, "registryapp").0, 1);
    ok(compose(&d, &dir, &["rm", "-f", "-s"]));
    assert_eq!(labelled(&d, "registryapp"), (0, 0, 0));
    // The bind-mounted data is the host's.
    assert!(dir.join("data/index.html").exists());
}

#[test]
fn v1_links_reach_a_service_by_alias() {
    let d = daemon();
    let dir = project_dir(
        &d,
        "linked",
        "client:\n  image: web\n  command: sleep 3600\n  links:\n    - server:backend\nserver:\n  image: web\n  command: httpd -f -p 80 -h /www\n",
    );
    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    // The server (a dependency through links) is created before the client.
    let s = err.find("linked_server_1  Created").expect(&err);
    let c = err.find("linked_client_1  Created").expect(&err);
    assert!(s < c, "{err}");
    let body = eventually("the link alias to answer", || {
        let o = compose(
            &d,
            &dir,
            &[
                "exec",
                "client",
                "wget",
                "-q",
                "-O-",
                "http://backend/index.html",
            ],
        );
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(body, "hello from berth\n");
    // The other names docker-compose 1.x links too.
    let o = compose(
        &d,
        &dir,
        &[
            "exec",
            "client",
            "wget",
            "-q",
            "-O-",
            "http://server_1/index.html",
        ],
    );
    assert_eq!(stdout(&o), "hello from berth\n", "{}", stderr(&o));
    // exec passes the exit code through.
    let o = compose(&d, &dir, &["exec", "client", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    // No project network for a v1 file.
    assert_eq!(labelled(&d, "linked"), (2, 0, 0));
    // Replacing the link target replaces the linking container too (its link points at
    // the old container), as docker-compose 1.29 does; the alias still answers.
    let f = dir.join("docker-compose.yml");
    std::fs::write(
        &f,
        std::fs::read_to_string(&f).unwrap().replace(
            "server:\n  image: web\n",
            "server:\n  image: web\n  environment: {V: '2'}\n",
        ),
    )
    .unwrap();
    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(
        err.contains("linked_server_1  Recreated") && err.contains("linked_client_1  Recreated"),
        "{err}"
    );
    let body = eventually("the link alias after recreation", || {
        let o = compose(
            &d,
            &dir,
            &[
                "exec",
                "client",
                "wget",
                "-q",
                "-O-",
                "http://backend/index.html",
            ],
        );
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(body, "hello from berth\n");
    assert_eq!(labelled(&d, "linked"), (2, 0, 0));
    ok(compose(&d, &dir, &["down"]));
    assert_eq!(labelled(&d, "linked"), (0, 0, 0));
}

const V3: &str = r#"version: "3.8"
services:
  app:
    image: web
    command: sleep 3600
    depends_on:
      - db
  db:
    image: web
    command: sh -c 'echo "${GREETING:-unset}" > /data/x.html; exec httpd -f -p 80 -h /data'
    volumes:
      - dbdata:/data
volumes:
  dbdata: {}
"#;

#[test]
fn v3_project_network_named_volume_and_down() {
    let d = daemon();
    let dir = project_dir(&d, "v3app", V3);
    std::fs::write(dir.join(".env"), "GREETING=from-dotenv\n").unwrap();
    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Network v3app_default  Created"), "{err}");
    assert!(err.contains("Volume v3app_dbdata  Created"), "{err}");
    let db = err.find("v3app-db-1  Started").expect(&err);
    let app = err.find("v3app-app-1  Started").expect(&err);
    assert!(db < app, "depends_on order: {err}");
    assert_eq!(labelled(&d, "v3app"), (2, 1, 1));
    assert_eq!(
        inspect(
            &d,
            "{{index .Labels \"com.docker.compose.volume\"}}",
            "v3app_dbdata"
        ),
        "dbdata"
    );
    let body = eventually("db to answer by service name", || {
        let o = compose(
            &d,
            &dir,
            &["exec", "app", "wget", "-q", "-O-", "http://db/x.html"],
        );
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(body, "from-dotenv\n");
    // And by the container name.
    let o = compose(
        &d,
        &dir,
        &[
            "exec",
            "app",
            "wget",
            "-q",
            "-O-",
            "http://v3app-db-1/x.html",
        ],
    );
    assert_eq!(stdout(&o), "from-dotenv\n", "{}", stderr(&o));

    // config prints the normalised model.
    let cfg = ok(compose(&d, &dir, &["config"]));
    assert!(
        cfg.contains("name: v3app") && cfg.contains("from-dotenv"),
        "{cfg}"
    );
    assert_eq!(
        ok(compose(&d, &dir, &["config", "--services"])),
        "db\napp\n"
    );

    let out = compose(&d, &dir, &["down", "-v", "-t", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(labelled(&d, "v3app"), (0, 0, 0));
    // down twice is fine.
    ok(compose(&d, &dir, &["down", "-v"]));
}

#[test]
fn build_then_up_recreates_only_the_changed_service_keeping_volumes() {
    let d = daemon();
    let dir = project_dir(
        &d,
        "rebuild",
        "version: '3'\nservices:\n  app:\n    build: ./app\n    volumes:\n      - /state\n      - named:/named\n  other:\n    image: web\n    command: sleep 3600\n    environment:\n      MODE: one\nvolumes:\n  named: {}\n",
    );
    std::fs::create_dir(dir.join("app")).unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM web\nCOPY msg.txt /msg.txt\nCMD [\"sleep\", \"3600\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("app/msg.txt"), "v1\n").unwrap();
    let out = compose(&d, &dir, &["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Building app"), "{}", stderr(&out));
    let exec = |args: &[&str]| {
        let mut a = vec!["exec", "app"];
        a.extend_from_slice(args);
        let o = compose(&d, &dir, &a);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(exec(&["cat", "/msg.txt"]), "v1\n");
    exec(&["sh", "-c", "echo anon > /state/f && echo named > /named/f"]);
    let app1 = inspect(&d, "{{.Id}}", "rebuild-app-1");
    let other1 = inspect(&d, "{{.Id}}", "rebuild-other-1");

    // Change the source, rebuild, up: only app is recreated; both volumes keep data.
    // A different size: berth's builder keys its content-hash cache on size and mtime
    // seconds, so a same-size rewrite within the same second would hit the old cache.
    std::fs::write(dir.join("app/msg.txt"), "version 2\n").unwrap();
    let out = compose(&d, &dir, &["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        inspect(&d, "{{.Id}}", "rebuild-app-1"),
        app1,
        "build alone recreates nothing"
    );
    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rebuild-app-1  Recreated"), "{err}");
    assert!(!err.contains("rebuild-other-1  Recreate"), "{err}");
    let app2 = inspect(&d, "{{.Id}}", "rebuild-app-1");
    assert_ne!(app2, app1);
    assert_eq!(inspect(&d, "{{.Id}}", "rebuild-other-1"), other1);
    assert_eq!(exec(&["cat", "/msg.txt"]), "version 2\n");
    assert_eq!(exec(&["cat", "/state/f"]), "anon\n");
    assert_eq!(exec(&["cat", "/named/f"]), "named\n");
    // The old container is gone (no renamed leftovers).
    assert_eq!(labelled(&d, "rebuild").0, 2);

    // A config change recreates that service only.
    std::fs::write(
        dir.join("docker-compose.yml"),
        std::fs::read_to_string(dir.join("docker-compose.yml"))
            .unwrap()
            .replace("MODE: one", "MODE: two"),
    )
    .unwrap();
    let out = compose(&d, &dir, &["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(inspect(&d, "{{.Id}}", "rebuild-other-1"), other1);
    assert_eq!(inspect(&d, "{{.Id}}", "rebuild-app-1"), app2);
    assert!(inspect(&d, "{{json .Config.Env}}", "rebuild-other-1").contains("MODE=two"));

    // --force-recreate recreates everything; --no-build with a missing image fails.
    let out = compose(&d, &dir, &["up", "-d", "--force-recreate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(inspect(&d, "{{.Id}}", "rebuild-app-1"), app2);
    assert_eq!(exec(&["cat", "/state/f"]), "anon\n");

    let out = compose(&d, &dir, &["down", "-v", "--rmi", "local", "-t", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(labelled(&d, "rebuild"), (0, 0, 0));
    assert!(!d
        .docker(&["image", "inspect", "rebuild-app"])
        .status
        .success());
    let out = compose(&d, &dir, &["up", "-d", "--no-build"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--no-build"), "{}", stderr(&out));
    ok(compose(&d, &dir, &["down", "-v"]));
}

#[test]
fn up_attached_streams_logs_until_interrupted() {
    let d = daemon();
    let dir = project_dir(
        &d,
        "attached",
        "services:\n  talker:\n    image: web\n    command: sh -c 'echo hello-attached; exec sleep 3600'\n",
    );
    let mut child = Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .current_dir(&dir)
        .args(["compose", "up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut acc = String::new();
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            acc.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(acc.clone());
        }
    });
    let t = Instant::now();
    let mut seen = String::new();
    while !seen.contains("talker-1  | hello-attached") {
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no prefixed log line: {seen:?}"
        );
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "compose up did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        inspect(&d, "{{.State.Running}}", "attached-talker-1"),
        "false"
    );
    ok(compose(&d, &dir, &["down"]));
}

#[test]
fn bad_files_fail_with_file_service_field_and_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("bad");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("docker-compose.yml");
    std::fs::write(
        &file,
        "web:\n  image: web\n  healthcheck:\n    test: true\n",
    )
    .unwrap();
    let o = Command::new(BERTH)
        .current_dir(&dir)
        .args(["compose", "config"])
        .output()
        .unwrap();
    let e = fails(o);
    assert!(
        e.contains(&format!("{}:3", file.display()))
            && e.contains("\"web\"")
            && e.contains("healthcheck"),
        "{e}"
    );
    std::fs::write(
        &file,
        "a:\n  image: x\n  links: [b]\nb:\n  image: x\n  links: [a]\n",
    )
    .unwrap();
    let o = Command::new(BERTH)
        .current_dir(&dir)
        .args(["compose", "config"])
        .output()
        .unwrap();
    let e = fails(o);
    assert!(
        e.contains("circular dependency between services: a -> b -> a"),
        "{e}"
    );
}

/// The real docker-compose 1.29 (Python, docker-py) driving berth's daemon with the
/// guide's v1 file: up -d, ps, logs, stop, start, rm -f. Skipped when not installed.
#[test]
fn docker_compose_1_29_drives_berth() {
    if !have("docker-compose") {
        eprintln!("docker-compose not installed; skipping");
        return;
    }
    let d = daemon();
    let port = free_port();
    let dir = project_dir(&d, "dc129", &REGISTRY_V1.replace("PORT", &port.to_string()));
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/index.html"), "via docker-compose\n").unwrap();
    let dc = |args: &[&str]| {
        Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .env_remove("COMPOSE_PROJECT_NAME")
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap()
    };
    let o = dc(&["up", "-d"]);
    assert!(
        o.status.success(),
        "up: {}\n{}\ndaemon log:\n{}",
        stdout(&o),
        stderr(&o),
        d.log()
    );
    assert!(http_get(port, "/index.html").contains("via docker-compose"));
    let o = dc(&["ps"]);
    let ps = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ps.contains("dc129_registry_1") && ps.contains("Up"), "{ps}");
    let o = dc(&["logs", "--no-color"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("registry starting"), "{}", stdout(&o));
    // berth compose sees docker-compose's containers (same labels).
    let bps = ok(compose(&d, &dir, &["ps"]));
    assert!(bps.contains("dc129_registry_1"), "{bps}");
    let o = dc(&["stop", "-t", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        inspect(&d, "{{.State.Running}}", "dc129_registry_1"),
        "false"
    );
    let o = dc(&["start"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(http_get(port, "/index.html").contains("via docker-compose"));
    let o = dc(&["stop", "-t", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dc(&["rm", "-f"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(labelled(&d, "dc129"), (0, 0, 0));
}

/// docker-compose 1.29 with a v3 file: project network and named volume, discovery by
/// service name, and `up --force-recreate`, which reads the image's `ContainerConfig`
/// (berth sends it; dockerd ≥ 25 does not, and docker-compose 1.29 fails there with
/// `KeyError: 'ContainerConfig'`) and keeps anonymous volume data.
#[test]
fn docker_compose_1_29_v3_recreate_keeps_volumes() {
    if !have("docker-compose") {
        eprintln!("docker-compose not installed; skipping");
        return;
    }
    let d = daemon();
    let dir = project_dir(
        &d,
        "dcv3",
        "version: '3.8'\nservices:\n  app:\n    image: web\n    command: sleep 3600\n    depends_on: [db]\n  db:\n    image: web\n    command: sh -c 'echo dbdata > /data/x.html; exec httpd -f -p 80 -h /data'\n    volumes:\n      - dbdata:/data\n      - /anon\nvolumes:\n  dbdata: {}\n",
    );
    let dc = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .env_remove("COMPOSE_PROJECT_NAME")
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "docker-compose {args:?}: {}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    };
    dc(&["up", "-d"]);
    assert_eq!(labelled(&d, "dcv3"), (2, 1, 1));
    let body = eventually("db by service name", || {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .current_dir(&dir)
            .args(["exec", "-T", "app", "wget", "-q", "-O-", "http://db/x.html"])
            .output()
            .unwrap();
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(body, "dbdata\n");
    dc(&["exec", "-T", "db", "sh", "-c", "echo anon > /anon/f"]);
    let before = inspect(&d, "{{.Id}}", "dcv3_db_1");
    dc(&["up", "-d", "--force-recreate"]);
    assert_ne!(inspect(&d, "{{.Id}}", "dcv3_db_1"), before);
    assert_eq!(dc(&["exec", "-T", "db", "cat", "/anon/f"]), "anon\n");
    // berth compose reads the same project (v3 → `-` names, but it finds the
    // containers by label, not by name).
    let bps = ok(compose(&d, &dir, &["ps"]));
    assert!(
        bps.contains("dcv3_db_1") && bps.contains("dcv3_app_1"),
        "{bps}"
    );
    dc(&["down", "-v"]);
    assert_eq!(labelled(&d, "dcv3"), (0, 0, 0));
}

/// The same v3-spec project run by `berth compose` on berth's daemon and on the anchor
/// dockerd: same container names, same label keys, the same config hashes (so the hash
/// does not depend on the daemon), the same objects labelled, the same second-`up`
/// behaviour, and `down -v` clearing both.
#[test]
fn same_project_on_berth_and_on_dockerd() {
    let Some(dk) = Dockerd::start(&[]) else {
        eprintln!("SKIP: dockerd not installed");
        return;
    };
    let d = daemon();
    let tar = web_tar(d.dir.path());
    let o = dk.docker(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV PATH=/bin",
        tar.to_str().unwrap(),
        "web",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = "services:\n  solo:\n    image: web\n    network_mode: none\n    command: sh -c 'echo solo up; exec sleep 3600'\n    volumes:\n      - data:/data\n      - /anon\n    labels:\n      tier: test\n  other:\n    image: web\n    command: sh -c 'echo other up; exec sleep 3600'\n    depends_on: [solo]\nvolumes:\n  data: {}\n";
    let dir = project_dir(&d, "anchor", file);
    let run = |host: &str, args: &[&str]| {
        let o = Command::new(BERTH)
            .env("BERTH_HOST", host)
            .current_dir(&dir)
            .arg("compose")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{host} compose {args:?}: {}",
            stderr(&o)
        );
        (stdout(&o), stderr(&o))
    };
    let bh = d.host();
    let dh = dk.host();
    let labels = |docker: &dyn Fn(&[&str]) -> Output,
                  c: &str|
     -> std::collections::BTreeMap<String, String> {
        let o = docker(&["inspect", "-f", "{{json .Config.Labels}}", c]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(stdout(&o).trim()).unwrap()
    };
    let count = |docker: &dyn Fn(&[&str]) -> Output, kind: &[&str]| {
        let mut a = kind.to_vec();
        a.extend_from_slice(&["-q", "--filter", "label=com.docker.compose.project=anchor"]);
        stdout(&docker(&a))
            .lines()
            .filter(|l| !l.is_empty())
            .count()
    };
    let on_berth = |a: &[&str]| d.docker(a);
    let on_dockerd = |a: &[&str]| dk.docker(a);
    for host in [&bh, &dh] {
        let (_, err) = run(host, &["up", "-d"]);
        assert!(
            err.contains("anchor-solo-1  Started") && err.contains("anchor-other-1  Started"),
            "{host}: {err}"
        );
    }
    for c in ["anchor-solo-1", "anchor-other-1"] {
        let b = labels(&on_berth, c);
        let k = labels(&on_dockerd, c);
        assert_eq!(
            b.keys().collect::<Vec<_>>(),
            k.keys().collect::<Vec<_>>(),
            "{c}"
        );
        for key in [
            "com.docker.compose.config-hash",
            "com.docker.compose.project",
            "com.docker.compose.service",
            "com.docker.compose.container-number",
            "com.docker.compose.oneoff",
            "tier",
        ] {
            assert_eq!(b.get(key), k.get(key), "{c} {key}");
        }
    }
    for (what, kind) in [
        ("containers", &["ps", "-a"][..]),
        ("networks", &["network", "ls"][..]),
        ("volumes", &["volume", "ls"][..]),
    ] {
        assert_eq!(count(&on_berth, kind), count(&on_dockerd, kind), "{what}");
    }
    assert_eq!(count(&on_berth, &["volume", "ls"]), 1);
    let cols = |ps: &str| -> Vec<(String, String)> {
        ps.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), l.contains("Up").to_string())
            })
            .collect()
    };
    assert_eq!(cols(&run(&bh, &["ps"]).0), cols(&run(&dh, &["ps"]).0));
    assert_eq!(run(&bh, &["logs", "solo"]).0, run(&dh, &["logs", "solo"]).0);
    for host in [&bh, &dh] {
        let (_, err) = run(host, &["up", "-d"]);
        assert!(
            !err.contains("Recreate") && err.contains("Running"),
            "{host}: {err}"
        );
        run(host, &["down", "-v", "-t", "1"]);
    }
    for (what, kind) in [
        ("containers", &["ps", "-a"][..]),
        ("networks", &["network", "ls"][..]),
        ("volumes", &["volume", "ls"][..]),
    ] {
        assert_eq!(count(&on_berth, kind), 0, "berth {what}");
        assert_eq!(count(&on_dockerd, kind), 0, "dockerd {what}");
    }
}

/// `depends_on` conditions: `service_healthy` waits for the dependency's healthcheck,
/// `service_completed_successfully` for a zero exit, and a failed one stops `up`.
#[test]
fn depends_on_conditions_are_waited_for() {
    let d = daemon();
    let file = r#"services:
  migrate:
    image: web
    command: sh -c 'sleep 1; echo done > /shared/migrated'
    volumes: [shared:/shared]
  db:
    image: web
    command: sh -c 'sleep 2; touch /shared/ready; exec sleep 3600'
    volumes: [shared:/shared]
    healthcheck:
      test: test -f /shared/ready
      interval: 500ms
      retries: 20
  app:
    image: web
    command: sh -c 'cat /shared/migrated; test -f /shared/ready && echo READY || echo NOTREADY; exec sleep 3600'
    volumes: [shared:/shared]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
volumes:
  shared: {}
"#;
    let dir = project_dir(&d, "conds", file);
    let out = compose(&d, &dir, &["up", "-d"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("conds-db-1  Healthy"), "{err}");
    let logs = eventually("app's output", || {
        let l = ok(compose(&d, &dir, &["logs", "app"]));
        l.contains("READY").then_some(l)
    });
    assert!(
        logs.contains("app-1  | done") && logs.contains("app-1  | READY"),
        "{logs}"
    );
    ok(compose(&d, &dir, &["down", "-v", "-t", "1"]));

    // A dependency that fails: up stops with its exit code in the message.
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  migrate:\n    image: web\n    command: sh -c 'exit 4'\n  app:\n    image: web\n    command: sleep 3600\n    depends_on:\n      migrate: {condition: service_completed_successfully}\n",
    )
    .unwrap();
    let out = compose(&d, &dir, &["up", "-d"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("didn't complete successfully: exit 4"),
        "{}",
        stderr(&out)
    );
    ok(compose(&d, &dir, &["down"]));
    assert_eq!(labelled(&d, "conds"), (0, 0, 0));
}

/// docker-compose 1.29 with the guide's identidock-style v1 file: `build: .` through
/// berth's `/build`, links to two services, then edit → `build` → `up -d` replacing
/// only the built service.
#[test]
fn docker_compose_1_29_identidock_build_and_links() {
    if !have("docker-compose") {
        eprintln!("docker-compose not installed; skipping");
        return;
    }
    let d = daemon();
    let port = free_port();
    let file = format!(
        "identidock:\n  build: .\n  ports:\n    - \"127.0.0.1:{port}:5000\"\n  environment:\n    ENV: DEV\n  volumes:\n    - \"./app:/app\"\n  links:\n    - dnmonster\n    - redis\n\ndnmonster:\n  image: web\n  command: httpd -f -p 8080 -h /www\n\nredis:\n  image: web\n  command: sleep 3600\n"
    );
    let dir = project_dir(&d, "identidock", &file);
    std::fs::create_dir(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/index.html"), "identicon page\n").unwrap();
    std::fs::write(
        dir.join("cmd.sh"),
        "#!/bin/sh\necho \"Running $ENV server\"\nexec httpd -f -p 5000 -h /app\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM web\nCOPY cmd.sh /cmd.sh\nRUN [\"sh\", \"-c\", \"chmod +x /cmd.sh\"]\nCMD [\"/cmd.sh\"]\n",
    )
    .unwrap();
    let dc = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .env_remove("COMPOSE_PROJECT_NAME")
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "docker-compose {args:?}: {}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    };
    dc(&["build"]);
    dc(&["up", "-d"]);
    assert!(http_get(port, "/index.html").contains("identicon page"));
    let via_link = eventually("dnmonster through the link", || {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .current_dir(&dir)
            .args([
                "exec",
                "-T",
                "identidock",
                "wget",
                "-q",
                "-O-",
                "http://dnmonster:8080/index.html",
            ])
            .output()
            .unwrap();
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(via_link, "hello from berth\n");
    assert!(dc(&["logs", "--no-color", "identidock"]).contains("Running DEV server"));
    let before = inspect(&d, "{{.Id}}", "identidock_identidock_1");
    let redis = inspect(&d, "{{.Id}}", "identidock_redis_1");
    std::fs::write(
        dir.join("cmd.sh"),
        "#!/bin/sh\necho \"Running $ENV server, edited\"\nexec httpd -f -p 5000 -h /app\n",
    )
    .unwrap();
    dc(&["build"]);
    dc(&["up", "-d"]);
    assert_ne!(inspect(&d, "{{.Id}}", "identidock_identidock_1"), before);
    assert_eq!(inspect(&d, "{{.Id}}", "identidock_redis_1"), redis);
    assert!(http_get(port, "/index.html").contains("identicon page"));
    let logs = eventually("the edited server's log", || {
        let l = dc(&["logs", "--no-color", "identidock"]);
        l.contains("edited").then_some(l)
    });
    assert!(logs.contains("Running DEV server, edited"), "{logs}");
    dc(&["down", "--rmi", "local"]);
    assert_eq!(labelled(&d, "identidock"), (0, 0, 0));
}
