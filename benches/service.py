#!/usr/bin/env python3
"""Service benchmark: how long each platform takes to become ready, and how late archsmoke
notices that a port has opened.

Workload: the test bed's `web` image (busybox httpd, six platforms; tests/testbed/up.sh builds
it). Two measurements, each over several rounds, one platform at a time (`--jobs 1`: a service
holds its job slot, so platforms do not compete for the two cores):

1. Time to ready per platform, native vs emulated: `ready.tcp = 8080` on the stock image; the
   JSON report's `service.ready_secs` (from the container's start to the relay's first accepted
   connection).
2. Readiness detection latency: the service runs `sleep 1; echo binding; exec httpd ...`. One
   run waits for the log line `binding` (seen through the attach stream as it is printed),
   another for TCP port 8080; the difference of their medians is the time from the line to
   archsmoke noticing the open port: an upper bound of the detection latency, since it also
   holds the `exec` of httpd and its bind (slower under QEMU). The relay retries every 50 ms.

Usage: sudo benches/service.py [--rounds N] [--bin PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "127.0.0.1:5000/archsmoke/busybox:web"
PLATFORMS = ["linux/amd64", "linux/386", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"]
LATENCY_PLATFORMS = ["linux/amd64", "linux/arm64", "linux/s390x"]


def spec(ready, entrypoint=None):
    lines = [f'image = "{IMAGE}"', "[settings]", "jobs = 1", "[audit]", 'elf = "off"', "[service]"]
    if entrypoint:
        lines.append("entrypoint = " + json.dumps(entrypoint))
    lines.append("[service.ready]")
    lines.append(ready)
    return "\n".join(lines) + "\n"


def run(binary, text, platforms):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.toml")
        with open(path, "w") as f:
            f.write(text)
        report = os.path.join(d, "r.json")
        p = subprocess.run(
            [binary, "run", path, "--json", report, "-q", "--platform", ",".join(platforms)],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            sys.exit(f"archsmoke exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        with open(report) as f:
            r = json.load(f)
    out = {}
    for pl in r["platforms"]:
        out[pl["platform"]] = (pl["service"]["ready_secs"], pl["mode"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "archsmoke"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"no binary at {args.bin}: run `cargo build` first")
    load = lambda: open("/proc/loadavg").read().split()[:3]
    print(f"load average before: {' '.join(load())}")

    ready = {p: [] for p in PLATFORMS}
    modes = {}
    for _ in range(args.rounds):
        for p, (secs, mode) in run(args.bin, spec("tcp = 8080"), PLATFORMS).items():
            ready[p].append(secs)
            modes[p] = mode
    native = statistics.median(ready["linux/amd64"])
    print(f"\ntime to ready (tcp 8080, stock `web` image), median of {args.rounds} rounds:")
    print(f"{'platform':<15} {'mode':<24} {'ready':>8} {'min':>8} {'max':>8} {'vs native':>10}")
    for p in PLATFORMS:
        m = statistics.median(ready[p])
        print(
            f"{p:<15} {modes[p]:<24} {m:>7.3f}s {min(ready[p]):>7.3f}s {max(ready[p]):>7.3f}s "
            f"{m / native:>9.1f}x"
        )

    entry = ["sh", "-c", "sleep 1; echo binding; exec httpd -f -p 8080 -h /www"]
    log, tcp = ({p: [] for p in LATENCY_PLATFORMS} for _ in range(2))
    for _ in range(args.rounds):
        for p, (secs, _) in run(args.bin, spec('log = "^binding$"', entry), LATENCY_PLATFORMS).items():
            log[p].append(secs)
        for p, (secs, _) in run(args.bin, spec("tcp = 8080", entry), LATENCY_PLATFORMS).items():
            tcp[p].append(secs)
    print(f"\nreadiness detection latency (tcp ready - log line before `exec httpd`), medians:")
    print(f"{'platform':<15} {'log line':>9} {'tcp ready':>10} {'latency':>9}")
    for p in LATENCY_PLATFORMS:
        l, t = statistics.median(log[p]), statistics.median(tcp[p])
        print(f"{p:<15} {l:>8.3f}s {t:>9.3f}s {1000 * (t - l):>7.0f}ms")
    print(f"\nload average after: {' '.join(load())}")


if __name__ == "__main__":
    main()
