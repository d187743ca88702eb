//! End-to-end compose-spec features of `berth compose` against a real `berth daemon`
//! (real containers): `profiles` (`--profile`, `COMPOSE_PROFILES`, a service named on
//! the command line, the error for a disabled dependency, `down` leaving disabled
//! services alone), `scale`/`deploy.replicas`/`up --scale` (numbered replicas, scale up
//! keeping the existing ones, scale down removing the highest numbers, ps/logs/exec
//! --index/stop/start/down over every replica), `extends` across files (relative paths
//! of the extended file resolved against its directory), and `secrets`/`configs` (file
//! sources bind-mounted read-only, environment and inline sources copied in with their
//! mode, external ones refused). Where docker-compose 1.29 is installed, it runs the
//! same profiles/scale file on the same daemon and must make the same containers.

mod support;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

fn daemon() -> Daemon {
    let d = Daemon::start();
    let tar = busybox_web_tar(
        d.dir.path(),
        "busybox-features.tar",
        &["bin/", "etc/", "tmp/", "www/"],
        &[
            "sh", "echo", "cat", "sleep", "env", "hostname", "ls", "stat", "id", "touch", "head",
            "wc",
        ],
    );
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

fn project_dir(d: &Daemon, name: &str, compose: &str) -> PathBuf {
    let dir = d.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
    dir
}

fn compose_env(d: &Daemon, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .envs(env.iter().copied())
        .current_dir(dir)
        .arg("compose")
        .args(args)
        .output()
        .unwrap()
}

fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    compose_env(d, dir, &[], args)
}

/// `berth compose …` that must succeed: its stderr (the progress lines).
fn run(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let o = compose(d, dir, args);
    assert!(
        o.status.success(),
        "compose {args:?}: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stderr(&o)
}

/// The project's containers: name → (service, number, running).
fn containers(d: &Daemon, project: &str) -> BTreeMap<String, (String, String, bool)> {
    let out = ok(d.docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}}|{{.Label \"com.docker.compose.service\"}}|{{.Label \"com.docker.compose.container-number\"}}|{{.State}}",
    ]));
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].to_string(),
                (f[1].to_string(), f[2].to_string(), f[3] == "running"),
            )
        })
        .collect()
}

fn names(d: &Daemon, project: &str) -> Vec<String> {
    containers(d, project).into_keys().collect()
}

fn id_of(d: &Daemon, name: &str) -> String {
    ok(d.docker(&["inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

const PROFILES: &str = r#"services:
  web:
    image: web
    command: sleep 3600
  mock:
    image: web
    command: sleep 3600
    profiles: [dev]
    depends_on: [db]
  db:
    image: web
    command: sleep 3600
    profiles: [dev]
  admin:
    image: web
    command: sleep 3600
    profiles: [debug]
    depends_on: [db]
  tool:
    image: web
    command: sleep 3600
    profiles: [tools]
"#;

#[test]
fn profiles_choose_the_services() {
    let d = daemon();
    let dir = project_dir(&d, "prof", PROFILES);
    // No profile: only the services without profiles.
    run(&d, &dir, &["up", "-d"]);
    assert_eq!(names(&d, "prof"), ["prof-web-1"]);
    assert_eq!(ok(compose(&d, &dir, &["config", "--services"])), "web\n");
    assert_eq!(
        ok(compose(&d, &dir, &["config", "--profiles"])),
        "debug\ndev\ntools\n"
    );
    assert_eq!(
        ok(compose(
            &d,
            &dir,
            &["--profile", "dev", "config", "--services"]
        )),
        "db\nmock\nweb\n"
    );

    // A service named on the command line is enabled (its profile activated).
    let err = run(&d, &dir, &["up", "-d", "tool"]);
    assert!(err.contains("prof-tool-1  Started"), "{err}");
    assert_eq!(names(&d, "prof"), ["prof-tool-1", "prof-web-1"]);

    // …but a dependency in another inactive profile is an error naming both.
    let o = compose(&d, &dir, &["up", "-d", "admin"]);
    let e = fails(o);
    assert!(
        e.contains("compose.yaml")
            && e.contains("service \"admin\"")
            && e.contains("service \"db\"")
            && e.contains("--profile dev"),
        "{e}"
    );
    assert_eq!(names(&d, "prof").len(), 2);

    // --profile: the dev services come up, dependency first; tool is not an orphan.
    let err = run(&d, &dir, &["--profile", "dev", "up", "-d"]);
    let db = err.find("prof-db-1  Started").expect(&err);
    let mock = err.find("prof-mock-1  Started").expect(&err);
    assert!(db < mock, "{err}");
    assert!(!err.contains("orphan"), "{err}");
    assert_eq!(
        names(&d, "prof"),
        ["prof-db-1", "prof-mock-1", "prof-tool-1", "prof-web-1"]
    );

    // COMPOSE_PROFILES, comma-separated: admin's db is now enabled too.
    let o = compose_env(
        &d,
        &dir,
        &[("COMPOSE_PROFILES", "debug,dev")],
        &["up", "-d"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&d, "prof").len(), 5);

    // down without the profiles leaves the disabled services' containers (as compose
    // v2 does) and says so.
    let err = run(&d, &dir, &["down", "-t", "0"]);
    assert!(
        err.contains("prof-db-1 left in place") && err.contains("--profile dev"),
        "{err}"
    );
    assert_eq!(
        names(&d, "prof"),
        ["prof-admin-1", "prof-db-1", "prof-mock-1", "prof-tool-1"]
    );
    run(&d, &dir, &["--profile", "*", "down", "-t", "0"]);
    assert!(names(&d, "prof").is_empty());
}

const SCALED: &str = r#"services:
  web:
    image: web
    command: sh -c 'echo "replica $$(hostname) up"; exec sleep 3600'
    scale: 2
  worker:
    image: web
    command: sleep 3600
    deploy:
      replicas: 2
  fixed:
    image: web
    command: sleep 3600
    container_name: fixed-name-FEAT
"#;

#[test]
fn scale_up_and_down() {
    let d = daemon();
    let file = SCALED.replace("FEAT", &std::process::id().to_string());
    let dir = project_dir(&d, "scl", &file);
    run(&d, &dir, &["up", "-d"]);
    let c = containers(&d, "scl");
    let fixed = format!("fixed-name-{}", std::process::id());
    assert_eq!(
        c.keys().cloned().collect::<Vec<_>>(),
        [
            fixed.clone(),
            "scl-web-1".into(),
            "scl-web-2".into(),
            "scl-worker-1".into(),
            "scl-worker-2".into()
        ]
    );
    assert_eq!(c["scl-web-2"], ("web".into(), "2".into(), true));
    let web1 = id_of(&d, "scl-web-1");
    let web2 = id_of(&d, "scl-web-2");

    // Scale up: the two there are kept, 3 and 4 are added.
    let err = run(&d, &dir, &["up", "-d", "--scale", "web=4"]);
    assert!(err.contains("scl-web-4  Started"), "{err}");
    assert_eq!(id_of(&d, "scl-web-1"), web1);
    assert_eq!(id_of(&d, "scl-web-2"), web2);
    let c = containers(&d, "scl");
    assert_eq!(c["scl-web-4"], ("web".into(), "4".into(), true));
    assert_eq!(c.len(), 7);

    // ps, logs and exec --index see every replica.
    let ps = ok(compose(&d, &dir, &["ps", "web"]));
    for n in 1..=4 {
        assert!(ps.contains(&format!("scl-web-{n}")), "{ps}");
    }
    let logs = ok(compose(&d, &dir, &["logs", "web"]));
    for n in 1..=4 {
        assert!(logs.contains(&format!("web-{n}  | replica ")), "{logs}");
    }
    let h3 = ok(compose(
        &d,
        &dir,
        &["exec", "--index", "3", "web", "hostname"],
    ));
    assert_eq!(
        h3.trim(),
        ok(d.docker(&["inspect", "-f", "{{.Config.Hostname}}", "scl-web-3"])).trim()
    );
    assert!(
        fails(compose(&d, &dir, &["exec", "--index", "9", "web", "true"]))
            .contains("no running container number 9")
    );

    // Scale down: the highest numbers go, the lowest stay untouched.
    let err = run(&d, &dir, &["up", "-d", "--scale", "web=1", "web"]);
    assert!(
        err.contains("scl-web-4  Removed") && err.contains("scl-web-2  Removed"),
        "{err}"
    );
    let c = containers(&d, "scl");
    assert!(c.contains_key("scl-web-1") && !c.contains_key("scl-web-2"));
    assert_eq!(id_of(&d, "scl-web-1"), web1);
    // Back to the file's scale: a new 2 (the next number after those left).
    run(&d, &dir, &["up", "-d"]);
    assert_eq!(containers(&d, "scl")["scl-web-2"].1, "2");

    // stop and start cover all replicas.
    run(&d, &dir, &["stop", "-t", "0", "worker"]);
    let c = containers(&d, "scl");
    assert!(!c["scl-worker-1"].2 && !c["scl-worker-2"].2);
    run(&d, &dir, &["start", "worker"]);
    let c = containers(&d, "scl");
    assert!(c["scl-worker-1"].2 && c["scl-worker-2"].2);

    // A container_name cannot be scaled.
    let e = fails(compose(&d, &dir, &["up", "-d", "--scale", "fixed=2"]));
    assert!(
        e.contains("service \"fixed\"") && e.contains("container_name"),
        "{e}"
    );
    // scale: 0 removes them all.
    run(&d, &dir, &["up", "-d", "--scale", "worker=0"]);
    assert!(!containers(&d, "scl").keys().any(|n| n.contains("worker")));

    run(&d, &dir, &["down", "-t", "0"]);
    assert!(containers(&d, "scl").is_empty());
}

#[test]
fn extends_across_files() {
    let d = daemon();
    let dir = project_dir(
        &d,
        "ext",
        r#"services:
  app:
    extends:
      file: common/base.yml
      service: tuned
    environment:
      LEVEL: app
    command: sh -c 'cat /site/index.html; echo "$$LEVEL $$FROM_ENV_FILE $$ROLE"; exec sleep 3600'
"#,
    );
    std::fs::create_dir_all(dir.join("common/site")).unwrap();
    std::fs::write(dir.join("common/site/index.html"), "from the base's dir\n").unwrap();
    std::fs::write(dir.join("common/base.env"), "FROM_ENV_FILE=env-file\n").unwrap();
    std::fs::write(
        dir.join("common/base.yml"),
        r#"services:
  base:
    image: web
    env_file: base.env
    volumes:
      - ./site:/site:ro
    environment:
      LEVEL: base
      ROLE: base
  tuned:
    extends: base
    environment:
      ROLE: tuned
    labels:
      tier: tuned
"#,
    )
    .unwrap();
    run(&d, &dir, &["up", "-d"]);
    let logs = (0..50)
        .find_map(|_| {
            let l = ok(compose(&d, &dir, &["logs", "--no-log-prefix", "app"]));
            if l.lines().count() >= 2 {
                return Some(l);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            None
        })
        .expect("app's output");
    assert_eq!(logs, "from the base's dir\napp env-file tuned\n");
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"tier\"}}",
            "ext-app-1"
        ]))
        .trim(),
        "tuned"
    );
    let cfg = ok(compose(&d, &dir, &["config"]));
    assert!(
        cfg.contains(&dir.join("common/site").display().to_string()),
        "{cfg}"
    );
    run(&d, &dir, &["down", "-t", "0"]);

    // A cycle is an error naming the chain.
    std::fs::write(
        dir.join("common/base.yml"),
        "services:\n  tuned:\n    extends: {file: ../compose.yaml, service: app}\n",
    )
    .unwrap();
    let e = fails(compose(&d, &dir, &["config"]));
    assert!(
        e.contains("field \"extends\"")
            && e.contains("circular reference: app in")
            && e.contains("extends tuned in"),
        "{e}"
    );
}

#[test]
fn secrets_and_configs_reach_the_container() {
    let d = daemon();
    let dir = project_dir(
        &d,
        "sec",
        r#"services:
  app:
    image: web
    command: sleep 3600
    secrets:
      - db_pass
      - source: token
        target: api_token
        mode: 0400
    configs:
      - source: app_conf
        target: /etc/app.conf
      - inline
secrets:
  db_pass:
    file: ./secrets/db_pass.txt
  token:
    environment: FEATURE_TOKEN
configs:
  app_conf:
    file: ./app.conf
  inline:
    content: inline config
"#,
    );
    std::fs::create_dir(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/db_pass.txt"), "hunter2\n").unwrap();
    std::fs::write(dir.join("app.conf"), "key=value\n").unwrap();
    let o = compose_env(&d, &dir, &[("FEATURE_TOKEN", "tok-123")], &["up", "-d"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exec = |cmd: &[&str]| {
        let mut a = vec!["exec", "app"];
        a.extend_from_slice(cmd);
        compose(&d, &dir, &a)
    };
    assert_eq!(ok(exec(&["cat", "/run/secrets/db_pass"])), "hunter2\n");
    assert_eq!(ok(exec(&["cat", "/run/secrets/api_token"])), "tok-123");
    assert_eq!(ok(exec(&["cat", "/etc/app.conf"])), "key=value\n");
    assert_eq!(ok(exec(&["cat", "/inline"])), "inline config");
    // The environment secret has its mode; the file one is read-only.
    assert_eq!(
        ok(exec(&["stat", "-c", "%a", "/run/secrets/api_token"])).trim(),
        "400"
    );
    assert_eq!(ok(exec(&["stat", "-c", "%a", "/inline"])).trim(), "444");
    let o = exec(&["sh", "-c", "echo x > /run/secrets/db_pass"]);
    assert!(!o.status.success(), "a secret must be read-only");
    assert_eq!(
        std::fs::read_to_string(dir.join("secrets/db_pass.txt")).unwrap(),
        "hunter2\n"
    );
    run(&d, &dir, &["down", "-t", "0"]);

    // An external secret: a clear error, naming the file, service and key.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: web\n    secrets: [ext]\nsecrets:\n  ext:\n    external: true\n",
    )
    .unwrap();
    let e = fails(compose(&d, &dir, &["up", "-d"]));
    assert!(
        e.contains("compose.yaml:4: service \"app\", field \"secrets\"") && e.contains("no swarm"),
        "{e}"
    );
}

/// `ulimits`, `devices`, `cpus`, `mem_reservation`, `uts` and `group_add` reach the
/// container (they used to be ignored with a warning), and changing a ulimit recreates
/// it on the next `up -d` (it is part of the config hash).
#[test]
fn limits_devices_and_namespaces_reach_the_container() {
    let d = daemon();
    let file = |nofile_soft: u32| {
        format!(
            r#"services:
  app:
    image: web
    command: sleep 3600
    ulimits:
      nofile: {{soft: {nofile_soft}, hard: 2048}}
      nproc: 500
    devices:
      - "/dev/zero:/dev/myzero"
      - source: /dev/null
        target: /dev/mynull
        permissions: r
    cpus: 0.5
    mem_reservation: 32m
    uts: host
    group_add: ["4242"]
"#
        )
    };
    let dir = project_dir(&d, "lim", &file(1024));
    let o = compose(&d, &dir, &["up", "-d"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not supported yet"), "{}", stderr(&o));
    let exec = |cmd: &[&str]| {
        let mut a = vec!["exec", "-T", "app"];
        a.extend_from_slice(cmd);
        compose(&d, &dir, &a)
    };
    assert_eq!(ok(exec(&["sh", "-c", "ulimit -n"])).trim(), "1024");
    assert_eq!(ok(exec(&["sh", "-c", "ulimit -Hn"])).trim(), "2048");
    assert_eq!(ok(exec(&["sh", "-c", "ulimit -u"])).trim(), "500");
    // The devices are there, as character devices with the host's numbers (1,5 and 1,3).
    assert_eq!(
        ok(exec(&["stat", "-c", "%F %t,%T", "/dev/myzero"])).trim(),
        "character special file 1,5"
    );
    assert_eq!(
        ok(exec(&["stat", "-c", "%F %t,%T", "/dev/mynull"])).trim(),
        "character special file 1,3"
    );
    assert_eq!(
        ok(exec(&["sh", "-c", "head -c 4 /dev/myzero | wc -c"])).trim(),
        "4"
    );
    // The host's UTS namespace: the host's hostname.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(ok(exec(&["hostname"])).trim(), host.trim());
    let id = ok(exec(&["id"]));
    assert!(id.contains("4242"), "{id}");
    let name = "lim-app-1";
    let inspect = |f: &str| ok(d.berth(&["inspect", "-f", f, name])).trim().to_string();
    assert_eq!(inspect("{{.HostConfig.NanoCpus}}"), "500000000");
    assert_eq!(
        inspect("{{.HostConfig.MemoryReservation}}"),
        (32u64 << 20).to_string()
    );
    assert_eq!(inspect("{{.HostConfig.UTSMode}}"), "host");
    assert_eq!(inspect("{{.HostConfig.GroupAdd}}"), "[4242]");
    assert_eq!(
        inspect("{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}} {{end}}"),
        "nofile=1024:2048 nproc=500:500"
    );
    assert_eq!(
        inspect("{{range .HostConfig.Devices}}{{.PathOnHost}}:{{.PathInContainer}}:{{.CgroupPermissions}} {{end}}"),
        "/dev/zero:/dev/myzero:rwm /dev/null:/dev/mynull:r"
    );
    let before = id_of(&d, name);

    // Unchanged: the container stays.
    run(&d, &dir, &["up", "-d"]);
    assert_eq!(id_of(&d, name), before);
    // A changed ulimit is a changed config hash: the container is recreated.
    std::fs::write(dir.join("compose.yaml"), file(512)).unwrap();
    let e = run(&d, &dir, &["up", "-d"]);
    assert!(e.contains("Recreate"), "{e}");
    assert_ne!(id_of(&d, name), before);
    assert_eq!(ok(exec(&["sh", "-c", "ulimit -n"])).trim(), "512");
    run(&d, &dir, &["down", "-t", "0"]);

    // A bad value: an error naming the file, the service and the key.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: web\n    ulimits:\n      nofile: {soft: 10, hard: 5}\n",
    )
    .unwrap();
    let e = fails(compose(&d, &dir, &["up", "-d"]));
    assert!(
        e.contains("compose.yaml:4: service \"app\", field \"ulimits\"")
            && e.contains("soft limit must be less than or equal to hard limit"),
        "{e}"
    );
}

/// docker-compose 1.29 runs the same profiles and scale file on berth's daemon and
/// makes the same containers (with its `_` names). Skipped when not installed.
#[test]
fn docker_compose_1_29_agrees_on_profiles_and_scale() {
    if !have("docker-compose") {
        eprintln!("docker-compose not installed; skipping");
        return;
    }
    let d = daemon();
    let file = "version: '3.9'\nservices:\n  web:\n    image: web\n    command: sleep 3600\n    scale: 2\n  db:\n    image: web\n    command: sleep 3600\n    profiles: [dev]\n";
    let dir = project_dir(&d, "agree", file);
    let dc = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
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
    };
    let summary = |d: &Daemon| -> Vec<(String, String)> {
        containers(d, "agree")
            .into_values()
            .map(|(s, n, _)| (s, n))
            .collect()
    };
    dc(&["up", "-d"]);
    let theirs = summary(&d);
    dc(&["down", "-t", "0"]);
    run(&d, &dir, &["up", "-d"]);
    assert_eq!(summary(&d), theirs);
    assert_eq!(
        theirs,
        [("web".into(), "1".into()), ("web".into(), "2".into())]
    );
    run(&d, &dir, &["down", "-t", "0"]);

    dc(&["--profile", "dev", "up", "-d", "--scale", "web=3"]);
    let theirs = summary(&d);
    dc(&["--profile", "dev", "down", "-t", "0"]);
    run(
        &d,
        &dir,
        &["--profile", "dev", "up", "-d", "--scale", "web=3"],
    );
    assert_eq!(summary(&d), theirs);
    assert_eq!(theirs.len(), 4);
    run(&d, &dir, &["--profile", "dev", "down", "-t", "0"]);
}
