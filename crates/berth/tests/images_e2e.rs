//! End-to-end image tests: a real `berth daemon` driven by the `berth` CLI and by the
//! real docker CLI (`docker` on PATH, `DOCKER_HOST` pointed at berth).

mod support;
use support::*;

#[test]
fn berth_cli_image_lifecycle() {
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let tar_s = tar.to_str().unwrap();

    let v = ok(d.berth(&["version", "--format", "{{.Server.ApiVersion}}"]));
    let api: Vec<u32> = v.trim().split('.').map(|x| x.parse().unwrap()).collect();
    assert!(api[0] == 1 && api[1] >= 44, "API version {v}");

    let id = ok(d.berth(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=b",
        tar_s,
        "busybox",
    ]));
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let images = ok(d.berth(&["images"]));
    let mut lines = images.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("REPOSITORY") && header.contains("IMAGE ID"),
        "{images}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("busybox") && row.contains("latest") && row.contains(&id[7..19]),
        "{images}"
    );

    assert_eq!(ok(d.berth(&["images", "-q"])).trim(), &id[7..19]);
    assert_eq!(ok(d.berth(&["images", "-q", "--no-trunc"])).trim(), id);

    // inspect --format with the guide's templates
    let fmt = ok(d.berth(&[
        "inspect",
        "--format",
        "{{.Id}} {{json .Config.Cmd}} {{.Config.Env}}",
        "busybox",
    ]));
    assert_eq!(fmt.trim(), format!("{id} [\"sh\"] [A=b]"));
    let layers = ok(d.berth(&[
        "inspect",
        "--format",
        "{{.RootFS.Layers}}",
        "busybox:latest",
    ]));
    assert!(
        layers.trim().starts_with("[sha256:") && layers.trim().ends_with(']'),
        "{layers}"
    );
    let full: serde_json::Value =
        serde_json::from_str(&ok(d.berth(&["inspect", "busybox"]))).unwrap();
    assert_eq!(full[0]["Id"], id);
    assert_eq!(full[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(full[0]["Os"], "linux");

    // history
    let h = ok(d.berth(&["history", "busybox"]));
    assert!(h.contains("Imported from -"), "{h}");

    // tag, list by reference filter, rmi of one tag keeps the image
    ok(d.berth(&["tag", "busybox", "localhost:5000/bb:v1"]));
    let f = ok(d.berth(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "-f",
        "reference=localhost:5000/*",
    ]));
    assert_eq!(f.trim(), "localhost:5000/bb:v1");
    let out = ok(d.berth(&["rmi", "localhost:5000/bb:v1"]));
    assert_eq!(out.trim(), "Untagged: localhost:5000/bb:v1");
    assert!(ok(d.berth(&["images", "-q"])).contains(&id[7..19]));

    // save -> rmi -> load keeps the ID
    let archive = d.dir.path().join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    let out = ok(d.berth(&["rmi", "busybox"]));
    assert!(
        out.contains("Untagged: busybox:latest") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(ok(d.berth(&["images", "-q"])).trim(), "");
    let out = ok(d.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(out.trim(), "Loaded image: busybox:latest");
    assert_eq!(
        ok(d.berth(&["inspect", "--format", "{{.Id}}", "busybox"])).trim(),
        id
    );
    assert_eq!(
        ok(d.berth(&["system", "check"])).trim(),
        "no problems found"
    );

    // dangling images and prune
    ok(d.berth(&["import", tar_s]));
    let dangling = ok(d.berth(&["images", "-q", "-f", "dangling=true"]));
    assert_eq!(dangling.lines().count(), 1, "{dangling}");
    let pruned = ok(d.berth(&["image", "prune", "-f"]));
    assert!(pruned.contains("deleted: sha256:"), "{pruned}");
    assert_eq!(
        ok(d.berth(&["images", "-q", "-f", "dangling=true"])).trim(),
        ""
    );
    assert!(ok(d.berth(&["images", "-q"])).contains(&id[7..19]));
}

/// `image prune -a` (moby `ImagesPrune`): images containers use stay, other tagged
/// images lose each tag and go; `until` keeps images created after it.
#[test]
fn image_prune_all_keeps_images_in_use_and_honours_until() {
    let d = Daemon::with_busybox();
    let tar = busybox_tar(d.dir.path());
    let tar_s = tar.to_str().unwrap();
    ok(d.berth(&["import", "-c", "LABEL v=1", tar_s, "other:1"]));
    ok(d.berth(&["tag", "other:1", "other:2"]));
    ok(d.berth(&["create", "--name", "user", "busybox", "true"]));
    let out = ok(d.berth(&["image", "prune", "-a", "-f", "--filter", "until=1h"]));
    assert!(!out.contains("other:"), "created within the hour: {out}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = ok(d.berth(&["image", "prune", "-a", "-f", "--filter", "until=0s"]));
    assert!(out.contains("untagged: other:1"), "{out}");
    assert!(out.contains("untagged: other:2"), "{out}");
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert!(!out.contains("busybox"), "used by a container: {out}");
    let left = ok(d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(left.trim(), "busybox:latest");
    if have("docker") {
        let out = ok(d.docker(&["image", "prune", "-a", "-f"]));
        assert!(!out.contains("busybox"), "{out}");
    }
    ok(d.berth(&["rm", "user"]));
    let out = ok(d.berth(&["image", "prune", "-a", "-f"]));
    assert!(out.contains("untagged: busybox:latest"), "{out}");
}

#[test]
fn docker_cli_against_berth() {
    if !have("docker") {
        eprintln!("SKIP: the docker CLI is not installed");
        return;
    }
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    let v = ok(d.docker(&["version", "--format", "{{.Server.APIVersion}}"]));
    assert_eq!(v.trim(), "1.47");

    let id = ok(d.docker(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "busybox:1.0",
    ]));
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let images = ok(d.docker(&["images"]));
    assert!(
        images.lines().nth(1).unwrap().starts_with("busybox"),
        "{images}"
    );
    assert!(
        images.contains("1.0") && images.contains(&id[7..19]),
        "{images}"
    );

    ok(d.docker(&["tag", "busybox:1.0", "mybox"]));
    let layers = ok(d.docker(&["inspect", "--format", "{{.RootFS.Layers}}", "mybox"]));
    assert!(layers.starts_with("[sha256:"), "{layers}");
    assert_eq!(
        ok(d.docker(&["image", "inspect", "--format", "{{.Id}}", "mybox:latest"])).trim(),
        id
    );
    let hist = ok(d.docker(&["history", "--no-trunc", "mybox"]));
    assert!(
        hist.contains(&id) && hist.contains("Imported from -"),
        "{hist}"
    );

    // save -> rmi -> load round trip with an identical image ID
    let archive = d.dir.path().join("docker-save.tar");
    ok(d.docker(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox:1.0",
        "mybox",
    ]));
    let out = ok(d.docker(&["rmi", "busybox:1.0", "mybox"]));
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    let out = ok(d.docker(&["load", "-i", archive.to_str().unwrap()]));
    assert!(
        out.contains("Loaded image: busybox:1.0") && out.contains("Loaded image: mybox:latest"),
        "{out}"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.Id}}", "busybox:1.0"])).trim(),
        id
    );

    // errors as docker words them
    let e = fails(d.docker(&["rmi", "nope"]));
    assert!(e.contains("No such image: nope"), "{e}");
    let e = fails(d.docker(&["inspect", "nope"]));
    assert!(e.contains("No such object: nope"), "{e}");
    let e = fails(d.docker(&["tag", "busybox:1.0", "Busybox"]));
    assert!(
        e.contains("must be lowercase") || e.contains("invalid reference format"),
        "{e}"
    );
}

#[test]
fn multi_layer_archive_roundtrip_is_byte_exact() {
    let d = Daemon::start();
    let l1 = layer_tar(&[("etc/a.txt", Some(b"one")), ("etc/b.txt", Some(b"two"))]);
    let l2 = layer_tar(&[("etc/b.txt", None), ("etc/c.txt", Some(&[9u8; 5000][..]))]);
    let (path, id) = legacy_archive(d.dir.path(), "layered", "v1", &[l1.clone(), l2.clone()]);
    let out = ok(d.berth(&["load", "-i", path.to_str().unwrap()]));
    assert_eq!(out.trim(), "Loaded image: layered:v1");
    assert_eq!(
        ok(d.berth(&["inspect", "--format", "{{.Id}}", "layered:v1"])).trim(),
        id
    );

    // The whiteout became an overlay whiteout in the unpacked layer.
    let layers = d.data_root().join("layers");
    let mut found_whiteout = false;
    for e in std::fs::read_dir(&layers).unwrap().flatten() {
        let p = e.path().join("diff/etc/b.txt");
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            use std::os::unix::fs::FileTypeExt;
            if m.file_type().is_char_device() {
                found_whiteout = true;
            }
        }
    }
    assert!(found_whiteout, "no overlay whiteout for etc/b.txt");

    // Saving gives back the very same layer tars (diff IDs verify).
    let saved = d.dir.path().join("saved.tar");
    ok(d.berth(&["save", "-o", saved.to_str().unwrap(), "layered:v1"]));
    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    let mut blobs = std::collections::HashMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        blobs.insert(p, v);
    }
    use sha2::Digest;
    for l in [&l1, &l2] {
        let h = hex::encode(sha2::Sha256::digest(l));
        assert_eq!(
            blobs.get(&format!("blobs/sha256/{h}")),
            Some(l),
            "layer {h} not byte-identical"
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&blobs["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"][0], "layered:v1");
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", &id[7..]));
    let index: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/layered:v1"
    );
    assert!(blobs.contains_key("oci-layout"));
    assert_eq!(
        ok(d.berth(&["system", "check"])).trim(),
        "no problems found"
    );
}

#[test]
fn bad_input_leaves_the_store_as_it_was() {
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    ok(d.berth(&["import", tar.to_str().unwrap(), "base:1"]));
    let before = d.store_fingerprint();
    let images_before = ok(d.berth(&["images", "-q", "--no-trunc"]));

    // A truncated archive.
    let l1 = layer_tar(&[("big.bin", Some(&vec![7u8; 300_000][..]))]);
    let (good, _) = legacy_archive(d.dir.path(), "trunc", "v1", &[l1]);
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.dir.path().join("truncated.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = fails(d.berth(&["load", "-i", cut.to_str().unwrap()]));
    assert!(e.contains("invalid archive"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one-line error: {e}");

    // Corrupt bytes: not a tar at all.
    let junk = d.dir.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive at all").unwrap();
    let e = fails(d.berth(&["load", "-i", junk.to_str().unwrap()]));
    assert!(e.contains("invalid archive"), "{e}");

    // A manifest.json that references a layer that is not there.
    let l = layer_tar(&[("x", Some(b"x"))]);
    let (p, _) = legacy_archive(d.dir.path(), "missing", "v1", &[l]);
    let mut ar = tar::Archive::new(std::fs::File::open(&p).unwrap());
    let stripped = d.dir.path().join("missing-layer.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&stripped).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if path.ends_with("layer.tar") {
            continue;
        }
        let mut h = e.header().clone();
        b.append_data(&mut h, &path, &mut e).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let e = fails(d.berth(&["load", "-i", stripped.to_str().unwrap()]));
    assert!(e.contains("missing"), "{e}");

    // A layer whose content does not match the config's diff ID.
    let a = layer_tar(&[("a", Some(b"a"))]);
    let (p, _) = legacy_archive(d.dir.path(), "mismatch", "v1", &[a]);
    let mut raw = std::fs::read(&p).unwrap();
    // flip the content byte of the layer tar's only file ("a" -> "b")
    let i = find_file_data(&raw, b"a").expect("layer file data");
    raw[i] = b'b';
    let bad = d.dir.path().join("mismatch.tar");
    std::fs::write(&bad, &raw).unwrap();
    let e = fails(d.berth(&["load", "-i", bad.to_str().unwrap()]));
    assert!(e.contains("diff ID") || e.contains("invalid"), "{e}");

    // Import of something that is not a tar.
    let e = fails(d.berth(&["import", junk.to_str().unwrap(), "junk"]));
    assert!(e.contains("not a tar archive"), "{e}");

    // Unknown image, malformed references.
    let e = fails(d.berth(&["inspect", "nosuchimage"]));
    assert!(e.contains("No such object: nosuchimage"), "{e}");
    let e = fails(d.berth(&["rmi", "nosuchimage"]));
    assert!(e.contains("No such image: nosuchimage"), "{e}");
    let e = fails(d.berth(&["tag", "base:1", "Busybox"]));
    assert!(
        e.contains("repository name (library/Busybox) must be lowercase"),
        "{e}"
    );
    let e = fails(d.berth(&["tag", "base:1", "a::b"]));
    assert!(e.contains("invalid reference format"), "{e}");
    let e = fails(d.berth(&["import", tar.to_str().unwrap(), "a::b"]));
    assert!(e.contains("invalid reference format"), "{e}");

    assert_eq!(
        d.store_fingerprint(),
        before,
        "store changed after bad input"
    );
    assert_eq!(ok(d.berth(&["images", "-q", "--no-trunc"])), images_before);
    assert_eq!(
        ok(d.berth(&["system", "check"])).trim(),
        "no problems found"
    );
}

/// Position of the first byte of a small file's data block whose content is `content`.
fn find_file_data(raw: &[u8], content: &[u8]) -> Option<usize> {
    // Layer tars are nested inside the archive: find an inner header (512-byte block with
    // "ustar" magic) for a 1-byte file followed by a data block starting with `content`.
    let mut i = 0;
    while i + 1024 <= raw.len() {
        let block = &raw[i..i + 512];
        if &block[257..262] == b"ustar"
            && block[0] != 0
            && &block[124..135] == b"00000000001"
            && raw[i + 512..].starts_with(content)
        {
            return Some(i + 512);
        }
        i += 512;
    }
    None
}

#[test]
fn daemon_not_running_names_the_socket() {
    let o = std::process::Command::new(BERTH)
        .args(["-H", "unix:///tmp/berth-no-such-dir/berth.sock", "images"])
        .output()
        .unwrap();
    let e = fails(o);
    assert!(
        e.contains("unix:///tmp/berth-no-such-dir/berth.sock"),
        "{e}"
    );
    assert!(e.contains("Is the daemon running?"), "{e}");
    assert_eq!(e.trim().lines().count(), 1);
}
