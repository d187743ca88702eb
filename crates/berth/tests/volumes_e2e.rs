//! End-to-end volume tests against a real `berth daemon`: named and anonymous volumes,
//! population from the image, `--volumes-from` (the guide's Redis backup flow with
//! busybox), `--mount`, `rm -v`, prune, and the docker CLI's `volume` commands.

mod support;
use support::*;

fn lines(s: &str) -> Vec<String> {
    s.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn named_volume_survives_container_and_is_populated_from_image() {
    let d = Daemon::with_busybox();
    // First use creates the volume and copies the image's /etc into it.
    let out = ok(d.berth(&[
        "run",
        "--name",
        "w",
        "-v",
        "cfg:/etc",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd >/dev/null && echo persisted > /etc/note && echo ok",
    ]));
    assert_eq!(out, "ok\n");
    let data = d.data_root().join("volumes/cfg/_data");
    assert!(data.join("passwd").exists(), "image content copied");
    assert_eq!(
        std::fs::read_to_string(data.join("note")).unwrap(),
        "persisted\n"
    );
    // In use: cannot be removed.
    let err = fails(d.berth(&["volume", "rm", "cfg"]));
    assert!(err.contains("volume is in use"), "{err}");
    ok(d.berth(&["rm", "w"]));
    // Survives the container; a new container sees the data (no re-copy over it).
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            "cfg:/etc:ro",
            "busybox",
            "cat",
            "/etc/note"
        ])),
        "persisted\n"
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "-v",
        "cfg:/etc:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /etc/y",
    ]);
    assert_ne!(o.status.code(), Some(0), "read-only volume was writable");
    // The docker CLI sees it like a docker volume.
    let ls = ok(d.docker(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]));
    assert!(lines(&ls).contains(&"local cfg".to_string()), "{ls}");
    let mp = ok(d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "cfg"]));
    assert_eq!(mp.trim(), data.display().to_string());
    assert_eq!(ok(d.docker(&["volume", "rm", "cfg"])).trim(), "cfg");
    assert!(!data.exists());
    let err = fails(d.docker(&["volume", "inspect", "cfg"]));
    assert!(err.contains("no such volume"), "{err}");
}

#[test]
fn anonymous_volumes_rm_v_and_prune() {
    let d = Daemon::with_busybox();
    d.import_busybox("withvol", &["VOLUME /etc"]);
    // Image VOLUME → anonymous volume holding the image's content.
    let id = ok(d.berth(&["create", "withvol", "cat", "/etc/passwd"]));
    let id = id.trim();
    let mounts = ok(d.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
        id,
    ]));
    let parts: Vec<&str> = mounts.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "{mounts}");
    assert_eq!(parts[0], "volume");
    assert_eq!(parts[2], "/etc");
    assert_eq!(parts[3], "true");
    let vol = parts[1].to_string();
    assert_eq!(vol.len(), 64);
    assert!(d
        .data_root()
        .join("volumes")
        .join(&vol)
        .join("_data/passwd")
        .exists());
    // -v /path makes another anonymous volume; rm -v removes both.
    let id2 = ok(d.berth(&["create", "-v", "/scratch", "busybox", "true"]));
    let vol2 = ok(d.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}}{{end}}",
        id2.trim(),
    ]));
    let vol2 = vol2.trim().to_string();
    assert_eq!(vol2.len(), 64);
    ok(d.berth(&["rm", "-v", id]));
    assert!(!d.data_root().join("volumes").join(&vol).exists());
    let err = fails(d.berth(&["volume", "inspect", &vol]));
    assert!(err.contains("no such volume"), "{err}");
    // Without -v the anonymous volume stays, and prune (anonymous only) removes it while
    // leaving named ones alone.
    ok(d.berth(&["rm", id2.trim()]));
    ok(d.berth(&["volume", "create", "keepme"]));
    let out = ok(d.berth(&["volume", "prune", "-f"]));
    assert!(out.contains(&vol2), "{out}");
    let ls = ok(d.berth(&["volume", "ls", "-q"]));
    assert_eq!(lines(&ls), vec!["keepme".to_string()]);
    // --rm containers drop their anonymous volumes too.
    ok(d.berth(&["run", "--rm", "-v", "/tmp/x", "busybox", "true"]));
    let ls = ok(d.berth(&["volume", "ls", "-q"]));
    assert_eq!(lines(&ls), vec!["keepme".to_string()]);
}

/// The guide's Redis backup flow, with busybox: data written in a container with a
/// volume is read back through `--volumes-from` and copied to a bind-mounted host dir.
#[test]
fn volumes_from_backup_to_bind_mount() {
    let d = Daemon::with_busybox();
    let backup = d.dir.path().join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    ok(d.berth(&[
        "run",
        "--name",
        "myredis",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo 'SET key value' > /data/dump.rdb",
    ]));
    let bind = format!("{}:/backup", backup.display());
    ok(d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "myredis",
        "-v",
        &bind,
        "busybox",
        "busybox",
        "cp",
        "/data/dump.rdb",
        "/backup/",
    ]));
    assert_eq!(
        std::fs::read_to_string(backup.join("dump.rdb")).unwrap(),
        "SET key value\n"
    );
    // :ro applies to the inherited mounts.
    let o = d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "myredis:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/other",
    ]);
    assert_ne!(o.status.code(), Some(0));
    // --mount forms: volume, bind (read-only), tmpfs.
    std::fs::write(backup.join("in.txt"), "hello").unwrap();
    let out = ok(d.berth(&[
        "run", "--rm",
        "--mount", "type=volume,source=mv,target=/mv",
        "--mount", &format!("type=bind,source={},target=/b,readonly", backup.display()),
        "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
        "busybox", "sh", "-c",
        "echo v > /mv/f && cat /b/in.txt && ! touch /b/no 2>/dev/null && busybox grep ' /t ' /proc/mounts | busybox cut -d' ' -f3",
    ]));
    assert_eq!(out, "hellotmpfs\n");
    assert!(d.data_root().join("volumes/mv/_data/f").exists());
    // Bad input: clear errors, nothing created.
    let err = fails(d.berth(&["run", "--rm", "-v", "rel/path:/x", "busybox", "true"]));
    assert!(
        err.contains("If you intended to pass a host directory, use absolute path"),
        "{err}"
    );
    let err = fails(d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent-berth,target=/x",
        "busybox",
        "true",
    ]));
    assert!(err.contains("bind source path does not exist"), "{err}");
    let err = fails(d.berth(&["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"]));
    assert!(err.contains("No such container: nosuch"), "{err}");
    let ls = ok(d.berth(&["volume", "ls", "-q"]));
    let names = lines(&ls);
    assert_eq!(names.len(), 2, "{ls}"); // myredis's anonymous /data and mv
    assert!(names.contains(&"mv".to_string()));
}
