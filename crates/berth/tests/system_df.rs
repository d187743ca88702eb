//! `system df` and `builder prune` against a real `berth daemon`, through berth's CLI
//! and the docker CLI (`docker system df`, `docker builder prune`, `docker system
//! prune`, which calls `POST /build/prune`).

mod support;
use support::*;

/// The row of `system df`'s table for `kind` ("Images", "Build Cache"...), split on
/// runs of spaces after the kind.
fn row(table: &str, kind: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} row in:\n{table}"));
    line[kind.len()..]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn df_counts_images_containers_volumes_and_build_contexts_and_prune_frees_them() {
    let d = Daemon::with_busybox();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("blob"), vec![7u8; 2_000_000]).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY blob /blob\n").unwrap();
    ok(d.berth(&["build", "-q", "-t", "withblob", ctx.to_str().unwrap()]));
    ok(d.berth(&[
        "run",
        "--name",
        "keeper",
        "-v",
        "data:/data",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero > /data/z; echo hi > /written",
    ]));

    let table = ok(d.berth(&["system", "df"]));
    assert!(
        table.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"),
        "{table}"
    );
    // busybox and the built image; busybox is used by the (exited) container.
    let images = row(&table, "Images");
    assert_eq!(&images[..2], &["2", "1"], "{table}");
    let containers = row(&table, "Containers");
    assert_eq!(&containers[..3], &["1", "0", "3B"], "{table}");
    assert_eq!(containers[3], "3B (100%)", "{table}");
    let volumes = row(&table, "Local Volumes");
    assert_eq!(&volumes[..3], &["1", "1", "3MB"], "{table}");
    assert_eq!(volumes[3], "0B (0%)", "{table}");
    // One build context held for the next build: the 2 MB blob and the Dockerfile.
    let cache = row(&table, "Build Cache");
    assert_eq!(&cache[..2], &["1", "0"], "{table}");
    assert_eq!(cache[2], "2MB", "{table}");

    // The docker CLI reads the same answer the same way.
    let docker_table = ok(d.docker(&["system", "df"]));
    assert_eq!(docker_table, table);
    let verbose = ok(d.docker(&["system", "df", "-v"]));
    assert!(verbose.contains("context-0"), "{verbose}");
    assert!(verbose.contains("keeper"), "{verbose}");

    // `docker builder prune` removes the context the daemon kept.
    let pruned = ok(d.docker(&["builder", "prune", "-f"]));
    assert!(pruned.contains("context-0"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space: 2MB"), "{pruned}");
    let left: Vec<_> = std::fs::read_dir(d.data_root().join("builder"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("context-"))
        .collect();
    assert!(left.is_empty(), "context dirs left: {left:?}");
    let after = ok(d.berth(&["system", "df"]));
    assert_eq!(
        &row(&after, "Build Cache")[..3],
        &["0", "0", "0B"],
        "{after}"
    );
    // Nothing left to prune: berth's own command says so.
    let again = ok(d.berth(&["builder", "prune", "-f"]));
    assert_eq!(again, "Total reclaimed space: 0B\n");
    // The next build still works (a fresh context) and the cache of steps holds.
    let rebuilt = ok(d.berth(&["build", "-t", "withblob", ctx.to_str().unwrap()]));
    assert!(rebuilt.contains("Using cache"), "{rebuilt}");

    // Unknown filters are refused with the filter's name; `docker system prune` (which
    // calls /build/prune too) works.
    let e = fails(d.berth(&["builder", "prune", "-f", "--filter", "type=regular"]));
    assert!(e.contains("type"), "{e}");
    ok(d.docker(&["system", "prune", "-f"]));
    let end = ok(d.berth(&["system", "df"]));
    assert_eq!(&row(&end, "Containers")[..2], &["0", "0"], "{end}");
    assert_eq!(&row(&end, "Build Cache")[..1], &["0"], "{end}");
}
