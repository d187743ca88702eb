//! OCI distribution spec v1.1 conformance, endpoint by endpoint (pull, push, content
//! discovery, content management, referrers), run against berth and — as a check on the
//! tests themselves — against Debian's distribution 2.8 where the spec and it agree
//! (checks distribution 2.8 predates, like referrers, run only against berth).

mod common;
use common::*;

fn oci_manifest(config: &str, config_len: usize, layers: &[(&str, usize)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, n)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": layers
    }))
    .expect("json")
}

fn suite(t: &dyn Target) {
    let b = t.base();
    let berth = t.is_berth();
    let repo = "conformance/app";

    // end-1: API version check.
    let r = req("GET", &format!("{b}/v2/"), &[], None);
    assert_eq!(r.status, 200, "end-1 GET /v2/");
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    // ---- Push ----
    // end-4b: monolithic POST with digest.
    let mono = b"monolithic blob".to_vec();
    let dm = sha256(&mono);
    let r = req(
        "POST",
        &format!("{b}/v2/{repo}/blobs/uploads/?digest={dm}"),
        &[("Content-Type", "application/octet-stream")],
        Some(&mono),
    );
    if berth {
        assert_eq!(
            r.status,
            201,
            "end-4b monolithic POST: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.header("location").is_some());
        assert_eq!(r.header("docker-content-digest"), Some(dm.as_str()));
    } else {
        // distribution 2.8 ignores the digest and opens a session (the spec allows 202).
        assert_eq!(r.status, 202);
        push_blob(b, repo, &mono, &[]);
    }

    // end-4a + end-6: POST session then PUT with the body.
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec();
    let dc = push_blob(b, repo, &config, &[]);

    // end-5 chunked: PATCH in order, an out-of-order PATCH is refused with 416.
    let layer: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let dl = sha256(&layer);
    let r = req("POST", &format!("{b}/v2/{repo}/blobs/uploads/"), &[], None);
    assert_eq!(r.status, 202, "end-4a POST");
    assert!(r.header("docker-upload-uuid").is_some());
    let mut loc = absolute(b, r.header("location").expect("location"));
    let (c1, c2) = layer.split_at(100_000);
    let r = req(
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "0-99999"),
        ],
        Some(c1),
    );
    assert_eq!(
        r.status,
        202,
        "end-5 PATCH chunk 1: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("range"), Some("0-99999"));
    loc = absolute(b, r.header("location").expect("location"));
    if berth {
        // distribution 2.8 appends an out-of-order chunk anyway (202), corrupting the
        // upload; the spec requires 416.
        let r = req(
            "PATCH",
            &loc,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", "5-10"),
            ],
            Some(&c2[..6]),
        );
        assert_eq!(r.status, 416, "end-5 out-of-order chunk must be 416");
        assert_eq!(r.header("range"), Some("0-99999"));
    }
    // end-13: upload status.
    let r = req("GET", &loc, &[], None);
    assert_eq!(r.status, 204, "end-13 upload status");
    assert_eq!(r.header("range"), Some("0-99999"));
    loc = absolute(b, r.header("location").unwrap_or(&loc));
    let r = req(
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &format!("100000-{}", layer.len() - 1)),
        ],
        Some(c2),
    );
    assert_eq!(r.status, 202, "end-5 PATCH chunk 2");
    assert_eq!(
        r.header("range").map(str::to_string),
        Some(format!("0-{}", layer.len() - 1))
    );
    loc = absolute(b, r.header("location").expect("location"));
    let r = req("PUT", &with_query(&loc, &format!("digest={dl}")), &[], None);
    assert_eq!(r.status, 201, "end-6 PUT closes chunked upload");
    assert_eq!(r.header("docker-content-digest"), Some(dl.as_str()));

    // Wrong digest is refused and nothing is stored under it.
    let evil = b"not what the digest says";
    let wrong = sha256(b"something else");
    let r = req("POST", &format!("{b}/v2/{repo}/blobs/uploads/"), &[], None);
    let l2 = absolute(b, r.header("location").expect("location"));
    let r = req(
        "PUT",
        &with_query(&l2, &format!("digest={wrong}")),
        &[],
        Some(evil),
    );
    assert_eq!(r.status, 400, "wrong digest");
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert_eq!(
        req("HEAD", &format!("{b}/v2/{repo}/blobs/{wrong}"), &[], None).status,
        404
    );

    // ---- Pull: blobs ----
    let r = req("HEAD", &format!("{b}/v2/{repo}/blobs/{dl}"), &[], None);
    assert_eq!(r.status, 200, "end-2 HEAD blob");
    assert_eq!(
        r.header("content-length").map(str::to_string),
        Some(layer.len().to_string())
    );
    assert_eq!(r.header("docker-content-digest"), Some(dl.as_str()));
    let r = req("GET", &format!("{b}/v2/{repo}/blobs/{dl}"), &[], None);
    assert_eq!(r.status, 200, "end-2 GET blob");
    assert_eq!(r.body, layer);
    let r = req(
        "GET",
        &format!("{b}/v2/{repo}/blobs/{dl}"),
        &[("Range", "bytes=10-19")],
        None,
    );
    assert_eq!(r.status, 206, "Range GET");
    assert_eq!(r.body, &layer[10..20]);
    let missing = sha256(b"never pushed");
    let r = req("GET", &format!("{b}/v2/{repo}/blobs/{missing}"), &[], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "BLOB_UNKNOWN");
    assert_eq!(
        req("HEAD", &format!("{b}/v2/{repo}/blobs/{missing}"), &[], None).status,
        404
    );
    // A blob pushed to one repository is not visible in another without a mount.
    assert_eq!(
        req("HEAD", &format!("{b}/v2/elsewhere/blobs/{dl}"), &[], None).status,
        404
    );

    // ---- Push: manifests ----
    let m = oci_manifest(&dc, config.len(), &[(&dl, layer.len())]);
    let dmf = sha256(&m);
    let ct = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    let r = req("PUT", &format!("{b}/v2/{repo}/manifests/v1"), &ct, Some(&m));
    assert_eq!(
        r.status,
        201,
        "end-7 PUT manifest: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("docker-content-digest"), Some(dmf.as_str()));
    assert!(r.header("location").is_some());
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/{dmf}"),
        &ct,
        Some(&m),
    );
    assert_eq!(r.status, 201, "end-7 PUT by digest");
    // A manifest whose blobs are missing is refused.
    let bad = oci_manifest(&dc, config.len(), &[(&missing, 5)]);
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/bad"),
        &ct,
        Some(&bad),
    );
    assert_eq!(r.status, 400, "manifest with unknown blob");
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/junk"),
        &ct,
        Some(b"{not json"),
    );
    assert_eq!(r.status, 400, "invalid manifest");
    assert_eq!(r.code(), "MANIFEST_INVALID");

    // ---- Pull: manifests ----
    for reference in ["v1", dmf.as_str()] {
        let r = req(
            "GET",
            &format!("{b}/v2/{repo}/manifests/{reference}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            None,
        );
        assert_eq!(r.status, 200, "end-3 GET manifest {reference}");
        assert_eq!(r.body, m);
        assert_eq!(r.header("docker-content-digest"), Some(dmf.as_str()));
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        let r = req(
            "HEAD",
            &format!("{b}/v2/{repo}/manifests/{reference}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            None,
        );
        assert_eq!(r.status, 200, "end-3 HEAD manifest");
        assert_eq!(
            r.header("content-length").map(str::to_string),
            Some(m.len().to_string())
        );
    }
    let r = req("GET", &format!("{b}/v2/{repo}/manifests/nope"), &[], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "MANIFEST_UNKNOWN");
    assert_eq!(
        req(
            "GET",
            &format!("{b}/v2/no/such/repo/manifests/v1"),
            &[],
            None
        )
        .status,
        404
    );

    // Docker schema 2 manifest and manifest list.
    let dm2 = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": dc, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": dl, "size": layer.len()}]
    }))
    .expect("json");
    let docker_ct = [(
        "Content-Type",
        "application/vnd.docker.distribution.manifest.v2+json",
    )];
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/docker"),
        &docker_ct,
        Some(&dm2),
    );
    assert_eq!(
        r.status,
        201,
        "docker schema2 PUT: {}",
        String::from_utf8_lossy(&r.body)
    );
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": sha256(&dm2), "size": dm2.len(), "platform": {"architecture": "amd64", "os": "linux"}}]
    }))
    .expect("json");
    let list_ct = "application/vnd.docker.distribution.manifest.list.v2+json";
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/multi"),
        &[("Content-Type", list_ct)],
        Some(&list),
    );
    assert_eq!(
        r.status,
        201,
        "manifest list PUT: {}",
        String::from_utf8_lossy(&r.body)
    );
    let r = req(
        "GET",
        &format!("{b}/v2/{repo}/manifests/multi"),
        &[(
            "Accept",
            &format!("{list_ct}, application/vnd.docker.distribution.manifest.v2+json"),
        )],
        None,
    );
    assert_eq!(r.header("content-type"), Some(list_ct));
    assert_eq!(r.body, list);
    // A client that accepts no lists gets the linux/amd64 image.
    let r = req(
        "GET",
        &format!("{b}/v2/{repo}/manifests/multi"),
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, dm2, "list resolved to the amd64 manifest");
    // OCI index.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": dmf, "size": m.len(),
            "platform": {"architecture": "amd64", "os": "linux"}}]
    }))
    .expect("json");
    let r = req(
        "PUT",
        &format!("{b}/v2/{repo}/manifests/index"),
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        Some(&index),
    );
    assert_eq!(
        r.status,
        201,
        "OCI index PUT: {}",
        String::from_utf8_lossy(&r.body)
    );
    let r = req(
        "GET",
        &format!("{b}/v2/{repo}/manifests/index"),
        &[("Accept", "application/vnd.oci.image.index.v1+json")],
        None,
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );

    // end-11: cross-repository mount.
    let other = "conformance/other";
    let r = req(
        "POST",
        &format!("{b}/v2/{other}/blobs/uploads/?mount={dl}&from={repo}"),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "end-11 mount");
    assert!(r.header("location").is_some());
    assert_eq!(
        req("HEAD", &format!("{b}/v2/{other}/blobs/{dl}"), &[], None).status,
        200
    );
    let r = req(
        "POST",
        &format!("{b}/v2/{other}/blobs/uploads/?mount={missing}&from={repo}"),
        &[],
        None,
    );
    assert_eq!(
        r.status, 202,
        "mount of unknown blob falls back to an upload"
    );

    // Cancel an upload.
    let r = req("POST", &format!("{b}/v2/{repo}/blobs/uploads/"), &[], None);
    let l3 = absolute(b, r.header("location").expect("location"));
    let r = req("DELETE", &l3, &[], None);
    assert_eq!(r.status, 204, "cancel upload");
    let r = req("GET", &l3, &[], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");

    // ---- Content discovery ----
    for t in ["t0", "t1", "t2", "t3"] {
        assert_eq!(
            req(
                "PUT",
                &format!("{b}/v2/{repo}/manifests/{t}"),
                &ct,
                Some(&m)
            )
            .status,
            201
        );
    }
    let r = req("GET", &format!("{b}/v2/{repo}/tags/list"), &[], None);
    assert_eq!(r.status, 200, "end-8a tags");
    let mut tags: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).expect("tags");
    if !berth {
        // distribution 2.8 lists tags in directory order; the spec asks for lexical order.
        tags.sort();
    }
    assert_eq!(
        tags,
        vec!["docker", "index", "multi", "t0", "t1", "t2", "t3", "v1"]
    );
    if berth {
        let r = req("GET", &format!("{b}/v2/{repo}/tags/list?n=2"), &[], None);
        assert_eq!(r.status, 200, "end-8b tags paginated");
        assert_eq!(r.json()["tags"], serde_json::json!(["docker", "index"]));
        let link = r
            .header("link")
            .expect("Link header on a partial page")
            .to_string();
        assert!(link.contains("rel=\"next\""), "{link}");
        let r = req(
            "GET",
            &format!("{b}/v2/{repo}/tags/list?n=2&last=index"),
            &[],
            None,
        );
        assert_eq!(r.json()["tags"], serde_json::json!(["multi", "t0"]));
        let r = req(
            "GET",
            &format!("{b}/v2/{repo}/tags/list?n=10&last=t3"),
            &[],
            None,
        );
        assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
        assert!(r.header("link").is_none());
    }
    let r = req("GET", &format!("{b}/v2/no/such/tags/list"), &[], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "NAME_UNKNOWN");
    push_image(b, "conformance/zzz", "v1", b"another layer", &[]);
    let r = req("GET", &format!("{b}/v2/_catalog"), &[], None);
    assert_eq!(r.status, 200, "catalog");
    let repos = r.json()["repositories"].clone();
    assert!(
        repos
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == repo)),
        "{repos}"
    );
    let r = req("GET", &format!("{b}/v2/_catalog?n=1"), &[], None);
    assert_eq!(
        r.json()["repositories"].as_array().map(|a| a.len()),
        Some(1)
    );
    assert!(r.header("link").is_some(), "catalog Link header");

    // ---- Referrers (v1.1; distribution 2.8 predates them) ----
    if berth {
        let empty = b"{}".to_vec();
        let de = push_blob(b, repo, &empty, &[]);
        let art = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": de, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": de, "size": 2}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": dmf, "size": m.len()},
            "annotations": {"org.example.signed-by": "test"}
        }))
        .expect("json");
        let da = sha256(&art);
        let r = req(
            "PUT",
            &format!("{b}/v2/{repo}/manifests/{da}"),
            &ct,
            Some(&art),
        );
        assert_eq!(r.status, 201, "artifact PUT");
        assert_eq!(
            r.header("oci-subject"),
            Some(dmf.as_str()),
            "OCI-Subject header"
        );
        let r = req("GET", &format!("{b}/v2/{repo}/referrers/{dmf}"), &[], None);
        assert_eq!(r.status, 200, "end-12a referrers");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.oci.image.index.v1+json")
        );
        let j = r.json();
        assert_eq!(j["manifests"][0]["digest"], serde_json::json!(da));
        assert_eq!(
            j["manifests"][0]["artifactType"],
            "application/vnd.example.signature"
        );
        assert_eq!(
            j["manifests"][0]["annotations"]["org.example.signed-by"],
            "test"
        );
        let r = req(
            "GET",
            &format!(
                "{b}/v2/{repo}/referrers/{dmf}?artifactType=application/vnd.example.signature"
            ),
            &[],
            None,
        );
        assert_eq!(
            r.header("oci-filters-applied"),
            Some("artifactType"),
            "end-12b filter"
        );
        assert_eq!(r.json()["manifests"].as_array().map(|a| a.len()), Some(1));
        let r = req(
            "GET",
            &format!("{b}/v2/{repo}/referrers/{dmf}?artifactType=application/other"),
            &[],
            None,
        );
        assert_eq!(r.json()["manifests"].as_array().map(|a| a.len()), Some(0));
        let r = req(
            "GET",
            &format!("{b}/v2/{repo}/referrers/{missing}"),
            &[],
            None,
        );
        assert_eq!(
            r.status, 200,
            "referrers of an unknown subject is an empty list, not 404"
        );
        assert_eq!(r.json()["manifests"], serde_json::json!([]));
        // Subject need not exist when pushed.
        let art2 = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.sbom",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": de, "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing, "size": 1}
        }))
        .expect("json");
        let r = req(
            "PUT",
            &format!("{b}/v2/{repo}/manifests/{}", sha256(&art2)),
            &ct,
            Some(&art2),
        );
        assert_eq!(r.status, 201, "manifest with a missing subject is accepted");
        // Deleting the referrer removes it from the list.
        assert_eq!(
            req(
                "DELETE",
                &format!("{b}/v2/{repo}/manifests/{da}"),
                &[],
                None
            )
            .status,
            202
        );
        let r = req("GET", &format!("{b}/v2/{repo}/referrers/{dmf}"), &[], None);
        assert_eq!(r.json()["manifests"], serde_json::json!([]));
        // Invalid names are refused.
        let r = req("GET", &format!("{b}/v2/Bad_Name/tags/list"), &[], None);
        assert_eq!(r.status, 400);
        assert_eq!(r.code(), "NAME_INVALID");
    }

    // ---- Content management ----
    let r = req("DELETE", &format!("{b}/v2/{repo}/manifests/t0"), &[], None);
    if berth {
        assert_eq!(r.status, 202, "end-9 DELETE tag");
        assert_eq!(
            req("GET", &format!("{b}/v2/{repo}/manifests/t0"), &[], None).status,
            404
        );
    }
    let r = req(
        "DELETE",
        &format!("{b}/v2/{repo}/manifests/{dmf}"),
        &[],
        None,
    );
    assert_eq!(r.status, 202, "end-9 DELETE manifest by digest");
    assert_eq!(
        req("GET", &format!("{b}/v2/{repo}/manifests/{dmf}"), &[], None).status,
        404
    );
    assert_eq!(
        req("GET", &format!("{b}/v2/{repo}/manifests/v1"), &[], None).status,
        404,
        "tags of a deleted manifest go too"
    );
    assert_eq!(
        req(
            "DELETE",
            &format!("{b}/v2/{repo}/manifests/{dmf}"),
            &[],
            None
        )
        .status,
        404
    );
    let r = req("DELETE", &format!("{b}/v2/{repo}/blobs/{dm}"), &[], None);
    assert_eq!(r.status, 202, "end-10 DELETE blob");
    assert_eq!(
        req("HEAD", &format!("{b}/v2/{repo}/blobs/{dm}"), &[], None).status,
        404
    );
    let r = req("DELETE", &format!("{b}/v2/{repo}/blobs/{dm}"), &[], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "BLOB_UNKNOWN");
}

#[test]
fn conformance_berth() {
    let s = Berth::start("");
    suite(&s);
}

#[test]
fn conformance_distribution_2_8_agrees() {
    let Some(d) = Distribution::start() else {
        return;
    };
    suite(&d);
}

#[test]
fn deletes_refused_when_disabled() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Berth::start_in(dir, "");
    drop(s);
    // A separate server with delete disabled.
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("data");
    let cfg = berth_registry::Config::from_yaml_and_env(
        &format!(
            "storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
            root.display()
        ),
        "t",
        Vec::new(),
    )
    .expect("cfg");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let running = rt.block_on(berth_registry::start(&cfg)).expect("start");
    let b = format!("http://{}", running.local_addr);
    let (d, _) = push_image(&b, "x", "v1", b"layer", &[]);
    let r = req("DELETE", &format!("{b}/v2/x/manifests/{d}"), &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "UNSUPPORTED");
    let r = req("GET", &format!("{b}/metrics"), &[], None);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains("registry_manifests_pushed_total 1"), "{text}");
    assert!(text.contains("registry_blobs_committed_total 2"), "{text}");
    rt.block_on(running.shutdown());
}

/// berth uses distribution's storage layout: a `/var/lib/registry` written by `registry:2`
/// is served by berth, and the other way round.
#[test]
fn storage_is_interchangeable_with_distribution() {
    let Some(d) = Distribution::start() else {
        return;
    };
    let (m1, bytes1) = push_image(&d.base, "from/dist", "v1", b"pushed to distribution", &[]);
    let data = d.dir.path().join("data");
    // Serve distribution's data with berth (a copy, while distribution keeps running).
    let berth_dir = tempfile::tempdir().expect("tmp");
    let (ok, out) = run(std::process::Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(berth_dir.path().join("data")));
    assert!(ok, "{out}");
    let b = Berth::start_in(berth_dir, "");
    let r = req(
        "GET",
        &format!("{}/v2/from/dist/manifests/v1", b.base),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        None,
    );
    assert_eq!(r.status, 200, "berth serves distribution's manifest");
    assert_eq!(r.body, bytes1);
    assert_eq!(r.header("docker-content-digest"), Some(m1.as_str()));
    let layer = sha256(b"pushed to distribution");
    let r = req(
        "GET",
        &format!("{}/v2/from/dist/blobs/{layer}", b.base),
        &[],
        None,
    );
    assert_eq!(r.body, b"pushed to distribution");
    assert_eq!(
        req("GET", &format!("{}/v2/_catalog", b.base), &[], None).json()["repositories"],
        serde_json::json!(["from/dist"])
    );
    // And distribution serves what berth wrote.
    let (m2, bytes2) = push_image(&b.base, "from/berth", "v2", b"pushed to berth", &[]);
    let Some(d2) = Distribution::start_on(Some(&b.data())) else {
        return;
    };
    let r = req(
        "GET",
        &format!("{}/v2/from/berth/manifests/v2", d2.base),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        None,
    );
    assert_eq!(r.status, 200, "distribution serves berth's manifest");
    assert_eq!(r.body, bytes2);
    assert_eq!(r.header("docker-content-digest"), Some(m2.as_str()));
    let r = req(
        "GET",
        &format!(
            "{}/v2/from/berth/blobs/{}",
            d2.base,
            sha256(b"pushed to berth")
        ),
        &[],
        None,
    );
    assert_eq!(r.body, b"pushed to berth");
}

/// `http.debug.addr` serves `/metrics` and `/debug/health` on a second port, as
/// distribution does; the main port serves `/metrics` too.
#[test]
fn debug_addr_serves_metrics_and_health() {
    let port = free_port();
    let s = Berth::start(&format!("http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:{port}\n    prometheus:\n      enabled: true\n"));
    push_image(&s.base, "m/x", "v1", b"metrics layer", &[]);
    let r = req(
        "GET",
        &format!("http://127.0.0.1:{port}/metrics"),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains("registry_manifests_pushed_total 1"), "{text}");
    assert!(
        text.contains("registry_http_requests_total{method=\"PUT\",code=\"201\"} 3"),
        "{text}"
    );
    assert_eq!(
        req(
            "GET",
            &format!("http://127.0.0.1:{port}/debug/health"),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(
        req("GET", &format!("{}/metrics", s.base), &[], None).status,
        200
    );
}

/// `storage.maintenance.readonly` refuses writes and still serves reads.
#[test]
fn read_only_mode() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Berth::start_in(dir, "");
    push_image(&s.base, "ro/x", "v1", b"ro layer", &[]);
    let dir = s.shutdown();
    let s = Berth::start_in(dir, "  maintenance:\n    readonly:\n      enabled: true\n");
    assert_eq!(
        req(
            "GET",
            &format!("{}/v2/ro/x/manifests/v1", s.base),
            &[],
            None
        )
        .status,
        200
    );
    let r = req(
        "POST",
        &format!("{}/v2/ro/x/blobs/uploads/", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "UNSUPPORTED");
}
