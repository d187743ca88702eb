#!/usr/bin/env python3
"""Generates a docker-save archive (Docker 25+ OCI layout + manifest.json) for the
analyzer benchmark: LAYERS layers, FILES files in total, about TOTAL bytes, with files
rewritten and deleted in later layers so that there is waste to find.

usage: analyze_gen.py OUT.tar [total_bytes] [layers] [files]
"""
import hashlib, io, json, os, sys, tarfile, tempfile

out = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000_000
nlayers = int(sys.argv[3]) if len(sys.argv) > 3 else 20
nfiles = int(sys.argv[4]) if len(sys.argv) > 4 else 50_000
per_layer = nfiles // nlayers
avg = total // nfiles
# Incompressible content (random bytes at scattered offsets), so that compressed
# variants of this image cost what real layers cost to inflate.
POOL = 64 << 20
pool = os.urandom(POOL)

def add_bytes(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))

tmp = tempfile.mkdtemp(prefix="berth-bench-")
layer_files, diff_ids, history = [], [], []
for l in range(nlayers):
    path = os.path.join(tmp, f"layer{l}.tar")
    h = hashlib.sha256()
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        d = tarfile.TarInfo(f"layer{l}")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tf.addfile(d)
        for i in range(per_layer):
            # Every 10th file rewrites a file of the previous layer (waste); the rest are new.
            if l > 0 and i % 10 == 0:
                name = f"layer{l-1}/dir{(i + 1) % 50}/f{i + 1}"
            else:
                name = f"layer{l}/dir{i % 50}/f{i}"
            size = (avg // 2) + ((i * 7919 + l * 104729) % avg)
            ti = tarfile.TarInfo(name)
            ti.size = size
            ti.mode = 0o644
            off = (i * 7919 * 4096 + l * 1000003) % (POOL - size)
            tf.addfile(ti, io.BytesIO(pool[off:off + size]))
        if l > 0:
            # Delete one directory of the previous layer.
            w = tarfile.TarInfo(f"layer{l-1}/dir49/.wh.f49")
            tf.addfile(w, io.BytesIO(b""))
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    layer_files.append(path)
    diff_ids.append("sha256:" + h.hexdigest())
    history.append({"created_by": f"/bin/sh -c generate layer {l}"})

config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": diff_ids},
                     "history": history}).encode()
cd = hashlib.sha256(config).hexdigest()
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
    add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    paths = []
    for p, d in zip(layer_files, diff_ids):
        name = "blobs/sha256/" + d.split(":")[1]
        tf.add(p, arcname=name)
        paths.append(name)
        os.remove(p)
    add_bytes(tf, "blobs/sha256/" + cd, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 0} for d in diff_ids]}).encode()
    md = hashlib.sha256(manifest).hexdigest()
    add_bytes(tf, "blobs/sha256/" + md, manifest)
    add_bytes(tf, "index.json", json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": len(manifest)}]}).encode())
    add_bytes(tf, "manifest.json", json.dumps([{"Config": "blobs/sha256/" + cd, "RepoTags": ["bench/analyze:1"], "Layers": paths}]).encode())
os.rmdir(tmp)
