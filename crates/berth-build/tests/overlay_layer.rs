//! End-to-end: a real overlay mount, changes made through it, and the layer tar
//! produced from its upper dir (whiteouts, opaque dirs, modified and new files).

use berth_build::layer::diff_tar;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mount_overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) -> Result<(), String> {
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let src = CString::new("overlay").unwrap();
    let target = CString::new(merged.as_os_str().as_encoded_bytes()).unwrap();
    let data = CString::new(opts).unwrap();
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            data.as_ptr() as *const libc::c_void,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

fn umount(p: &Path) {
    let t = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
}

#[test]
fn overlay_upper_dir_becomes_docker_layer() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIP: overlay mounts need root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (lower, upper, work, merged) = (
        d.path().join("lower"),
        d.path().join("upper"),
        d.path().join("work"),
        d.path().join("merged"),
    );
    for p in [&lower, &upper, &work, &merged] {
        fs::create_dir_all(p).unwrap();
    }
    fs::create_dir_all(lower.join("etc")).unwrap();
    fs::create_dir_all(lower.join("opt/old")).unwrap();
    fs::write(lower.join("etc/deleted.conf"), b"x").unwrap();
    fs::write(lower.join("etc/kept.conf"), b"k").unwrap();
    fs::write(lower.join("etc/changed.conf"), b"v1").unwrap();
    fs::write(lower.join("opt/old/file"), b"old").unwrap();
    if let Err(e) = mount_overlay(&lower, &upper, &work, &merged) {
        println!("SKIP: cannot mount overlay here: {e}");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        fs::remove_file(merged.join("etc/deleted.conf")).unwrap();
        fs::write(merged.join("etc/changed.conf"), b"v2").unwrap();
        fs::remove_dir_all(merged.join("opt")).unwrap();
        fs::create_dir_all(merged.join("opt")).unwrap();
        fs::write(merged.join("opt/new"), b"new").unwrap();
        fs::write(merged.join("tool"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(merged.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        // Created and deleted in the same step: leaves nothing.
        fs::write(merged.join("tmpfile"), vec![0u8; 1 << 20]).unwrap();
        fs::remove_file(merged.join("tmpfile")).unwrap();
    });
    umount(&merged);
    result.unwrap();

    let (tar_bytes, info) = diff_tar(&upper, Vec::new()).unwrap();
    let mut a = tar::Archive::new(&tar_bytes[..]);
    let mut got = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        got.push((
            e.path().unwrap().to_string_lossy().into_owned(),
            e.header().entry_type(),
            e.header().mode().unwrap(),
            e.header().size().unwrap(),
        ));
    }
    let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "etc/",
            // Walk order is by the upper dir's names, as go-archive's is.
            "etc/changed.conf",
            "etc/.wh.deleted.conf",
            "opt/",
            "opt/.wh..wh..opq",
            "opt/new",
            "tool"
        ],
        "{got:?}"
    );
    let wh = &got[2];
    assert_eq!((wh.1, wh.2, wh.3), (tar::EntryType::Regular, 0o600, 0));
    assert_eq!(got[6].2, 0o755);
    assert_eq!(info.entries, 7);
    assert!(info.size < 64 * 1024, "tmpfile must not be in the layer");
    // Same upper dir, same bytes.
    let (again, _) = diff_tar(&upper, Vec::new()).unwrap();
    assert_eq!(again, tar_bytes);
}
