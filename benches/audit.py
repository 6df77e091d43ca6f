#!/usr/bin/env python3
"""Benchmark of the image audit on a large image (not run in CI).

Builds a two-platform image of more than 500 MB and pushes it to the local registry as
`archsmoke/big:audit`: four random-data layers shared by both platforms (two gzip, two plain tar:
random data does not compress, so they are large on the wire too), and per platform one gzip layer
of this machine's ELF files and their loader (amd64; in the arm64 image they are the wrong
architecture, so the audit has mismatches to report). Then runs `archsmoke audit` on it and prints the wall time and
the peak RSS, which must stay far below the image size: layers are streamed, never held.

Usage: benches/audit.py [--registry 127.0.0.1:5000] [--layer-mb 130] [--binary PATH]   (needs GNU time)
"""
import argparse
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = "archsmoke/big"
TAG = "audit"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def connect(registry):
    host, port = registry.rsplit(":", 1)
    if not host.startswith("127.") and host != "localhost":
        sys.exit(f"refusing to push to {registry}: only loopback registries are used here")
    return http.client.HTTPConnection(host, int(port), timeout=300)


def push_blob(registry, path, digest):
    c = connect(registry)
    c.request("HEAD", f"/v2/{REPO}/blobs/{digest}")
    r = c.getresponse()
    r.read()
    if r.status == 200:
        return
    c.request("POST", f"/v2/{REPO}/blobs/uploads/")
    r = c.getresponse()
    r.read()
    if r.status != 202:
        sys.exit(f"upload start failed: {r.status}")
    location = r.getheader("Location")
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    sep = "&" if "?" in location else "?"
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        c.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            body=f,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        r = c.getresponse()
        r.read()
    if r.status != 201:
        sys.exit(f"upload of {digest} failed: {r.status}")


def push_bytes(registry, data, tmp):
    path = os.path.join(tmp, "blob")
    with open(path, "wb") as f:
        f.write(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    push_blob(registry, path, digest)
    return digest


def push_manifest(registry, ref, body, media_type):
    c = connect(registry)
    c.request("PUT", f"/v2/{REPO}/manifests/{ref}", body=body, headers={"Content-Type": media_type})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit(f"manifest push failed: {r.status}")


def tar_info(name, size, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = 0
    return info


def random_layer(path, mb, index, compress):
    """A tar of 16 MiB random files, written streaming (never the whole layer in memory).
    Seeded, so that a second run produces the same blobs and the registry already has them."""
    rng = random.Random(index)
    raw = open(path, "wb")
    out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compress else raw
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        chunk = 16 << 20
        for i in range(max(1, (mb << 20) // chunk)):
            data = rng.randbytes(chunk)
            tar.addfile(tar_info(f"data/{index}/blob{i}.bin", chunk), io.BytesIO(data))
    if compress:
        out.close()
    raw.close()


def elf_layer(path, limit=300):
    """This machine's ELF executables and libraries under /usr/bin and /usr/lib."""
    count = 0
    with tarfile.open(path, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as tar:
        for d in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"]:
            for name in sorted(os.listdir(d)):
                p = os.path.join(d, name)
                if count >= limit or not os.path.isfile(p) or os.path.islink(p):
                    continue
                with open(p, "rb") as f:
                    if f.read(4) != b"\x7fELF":
                        continue
                tar.add(p, arcname=p.lstrip("/"), recursive=False)
                count += 1
        # The dynamic loader the executables name (PT_INTERP), so that amd64 audits clean.
        loader = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
        if os.path.exists(loader):
            tar.add(loader, arcname="lib64/ld-linux-x86-64.so.2", recursive=False)
    return count


def build_and_push(registry, layer_mb, tmp):
    shared = []
    for i in range(4):
        compress = i < 2
        path = os.path.join(tmp, f"random{i}")
        random_layer(path, layer_mb, i, compress)
        digest = sha256_file(path)
        push_blob(registry, path, digest)
        shared.append((digest, os.path.getsize(path), OCI_LAYER_GZIP if compress else OCI_LAYER_TAR))
        os.remove(path)
    elf_path = os.path.join(tmp, "elves")
    elves = elf_layer(elf_path)
    elf_digest = sha256_file(elf_path)
    push_blob(registry, elf_path, elf_digest)
    layers = shared + [(elf_digest, os.path.getsize(elf_path), OCI_LAYER_GZIP)]
    entries = []
    for arch in ["amd64", "arm64"]:
        config = json.dumps({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/usr/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [d for d, _, _ in layers]},
        }).encode()
        config_digest = push_bytes(registry, config, tmp)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": m, "digest": d, "size": s} for d, s, m in layers],
        }).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        push_manifest(registry, digest, manifest, "application/vnd.oci.image.manifest.v1+json")
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest, "size": len(manifest),
                        "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()
    push_manifest(registry, TAG, index, "application/vnd.oci.image.index.v1+json")
    total = sum(s for _, s, _ in layers)
    return total, elves


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", default="127.0.0.1:5000")
    ap.add_argument("--layer-mb", type=int, default=130)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "archsmoke"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        started = time.monotonic()
        total, elves = build_and_push(args.registry, args.layer_mb, tmp)
        print(f"pushed {args.registry}/{REPO}:{TAG}: {total / 1e6:.0f} MB of layers per platform, "
              f"{elves} ELF files, in {time.monotonic() - started:.1f}s")
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    ref = f"{args.registry}/{REPO}:{TAG}"
    started = time.monotonic()
    # GNU time measures the audit alone: a child forked from this script would start with the
    # script's own memory in its RSS.
    proc = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", args.binary, "audit", ref,
                           "--json"], capture_output=True, text=True)
    wall = time.monotonic() - started
    peak_kb = int(proc.stderr.strip().splitlines()[-1].split("=", 1)[1])
    if proc.returncode not in (0, 1):
        sys.exit(f"audit failed with exit {proc.returncode}:\n{proc.stderr}")
    report = json.loads(proc.stdout)
    for p in report["platforms"]:
        elf = [t for t in p["tests"] if t["name"] == "audit elf"][0]
        print(f"  {p['platform']}: audit elf {elf['status']}, {len(elf['mismatches'])} mismatches")
    print(f"audit of {ref}: exit {proc.returncode}, {wall:.2f}s wall, "
          f"peak RSS {peak_kb / 1024:.1f} MiB (image layers {total / 1e6:.0f} MB, read once)")


if __name__ == "__main__":
    main()
