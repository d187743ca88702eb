#!/usr/bin/env python3
"""Turns the benchmark's docker-save archive into an OCI layout directory with
gzip-compressed layers (level 1), so the benchmark can also time decompression.

usage: analyze_oci_gzip.py ARCHIVE.tar OUTDIR
"""
import gzip, hashlib, json, os, sys, tarfile

src, out = sys.argv[1], sys.argv[2]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return d

with tarfile.open(src) as tf:
    m = json.loads(tf.extractfile("manifest.json").read())[0]
    config = tf.extractfile(m["Config"]).read()
    layers = []
    for p in m["Layers"]:
        raw = tf.extractfile(p).read()
        gz = gzip.compress(raw, compresslevel=1, mtime=0)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": "sha256:" + put(gz), "size": len(gz)})
cd = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + cd, "size": len(config)},
                       "layers": layers}).encode()
md = put(manifest)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                   "digest": "sha256:" + md, "size": len(manifest)}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
