//! Interop with a real dockerd (Debian's docker.io), started on its own socket, data
//! root and exec root: an archive written by `docker save` loads into berth with the same
//! image ID, and berth's `save` output loads into dockerd with the same ID and runs there.

mod support;
use support::*;

#[test]
fn archives_move_between_dockerd_and_berth() {
    let dockerd = match Dockerd::try_start(&[]) {
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
