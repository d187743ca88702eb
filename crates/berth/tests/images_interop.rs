//! Interop with a real dockerd (Debian's docker.io), started on its own socket, data
//! root and exec root: an archive written by `docker save` loads into berth with the same
//! image ID, and berth's `save` output loads into dockerd with the same ID and runs there.

mod support;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Dockerd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Dockerd {
    fn start() -> Result<Dockerd, String> {
        if !have("dockerd") {
            return Err("dockerd is not installed (apt-get install docker.io)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let p = |s: &str| dir.path().join(s).display().to_string();
        let child = Command::new("dockerd")
            .args([
                "--host",
                &format!("unix://{}", p("d.sock")),
                "--data-root",
                &p("data"),
                "--exec-root",
                &p("exec"),
                "--pidfile",
                &p("d.pid"),
                "--bridge",
                "none",
                "--iptables=false",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| e.to_string())?;
        let d = Dockerd { dir, child };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if d.docker(&["version"]).status.success() {
                return Ok(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "dockerd did not start: {}",
            std::fs::read_to_string(d.dir.path().join("log")).unwrap_or_default()
        ))
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn archives_move_between_dockerd_and_berth() {
    let dockerd = match Dockerd::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIP: {e}");
            return;
        }
    };
    let berth = Daemon::start();
    let tar = busybox_tar(berth.dir.path());

    // dockerd → berth
    let did = ok(dockerd.docker(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "fromdocker:1",
    ]));
    let from_docker = berth.dir.path().join("from-docker.tar");
    ok(dockerd.docker(&["save", "-o", from_docker.to_str().unwrap(), "fromdocker:1"]));
    let out = ok(berth.berth(&["load", "-i", from_docker.to_str().unwrap()]));
    assert_eq!(out.trim(), "Loaded image: fromdocker:1");
    assert_eq!(
        ok(berth.berth(&["inspect", "--format", "{{.Id}}", "fromdocker:1"])).trim(),
        did.trim()
    );
    assert_eq!(
        ok(berth.berth(&["system", "check"])).trim(),
        "no problems found"
    );

    // berth → dockerd
    let bid = ok(berth.berth(&[
        "import",
        "-c",
        "CMD [\"echo\", \"hi from berth\"]",
        tar.to_str().unwrap(),
        "fromberth:2",
    ]));
    let from_berth = berth.dir.path().join("from-berth.tar");
    ok(berth.berth(&["save", "-o", from_berth.to_str().unwrap(), "fromberth:2"]));
    let out = ok(dockerd.docker(&["load", "-i", from_berth.to_str().unwrap()]));
    assert!(out.contains("Loaded image: fromberth:2"), "{out}");
    assert_eq!(
        ok(dockerd.docker(&["inspect", "--format", "{{.Id}}", "fromberth:2"])).trim(),
        bid.trim()
    );
    let run = ok(dockerd.docker(&["run", "--rm", "--network", "none", "fromberth:2"]));
    assert_eq!(run.trim(), "hi from berth");
}
