#!/usr/bin/env python3
"""Install time: what a user's `cargo install --locked --path .` costs (the `release` profile:
optimized, no cross-crate LTO) against the published binaries' `dist` profile (the release
profile plus thin LTO), side by side in one run: each built from scratch in a target directory
of its own (`cargo build --locked`, the same compile `cargo install` does, without copying the
binary into ~/.cargo/bin), then its binary's size, then a runtime figure for both binaries
alternately: `archsmoke audit` of the test bed's real python3 + numpy image (reading and
decompressing ~2 x 40 MB of layers), and `archsmoke validate` of a spec (start-up alone).

The machine's load average is printed beside every figure: on a shared machine a build's time
says as much about the neighbours as about the build.

Usage: benches/build.py [--jobs N] [--rounds N] [--keep DIR]
Needs the test bed for the audit figure (tests/testbed/up.sh); without it only the builds and
sizes are measured.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("ARCHSMOKE_TESTBED_DIR", "/var/tmp/archsmoke-testbed")


def load():
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def build(profile, target_dir, jobs):
    before = load()
    start = time.monotonic()
    subprocess.run(["cargo", "build", "--locked", "--profile", profile, "-j", str(jobs),
                    "--bin", "archsmoke"],
                   cwd=ROOT, check=True, env={**os.environ, "CARGO_TARGET_DIR": target_dir},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    binary = os.path.join(target_dir, profile, "archsmoke")
    return wall, os.path.getsize(binary), binary, before, load()


def wall_of(cmd):
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd} exited {p.returncode}")
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", help="build here instead of a temporary directory (kept)")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="archsmoke-bench-build-", dir="/var/tmp")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; cargo -j {args.jobs}")
    built = {}
    for profile in ("release", "dist"):
        wall, size, binary, before, after = build(profile, os.path.join(work, profile), args.jobs)
        built[profile] = binary
        print(f"{profile:<8} build from scratch {wall:7.0f}s  binary {size / 2**20:5.1f} MiB  "
              f"({before} before, {after} after)")

    runs = {}
    spec = os.path.join(ROOT, "smoke-tests", "archsmoke-image.toml")
    commands = {"validate": lambda b: [b, "validate", spec]}
    fixtures = os.path.join(STATE, "fixtures.json")
    if os.path.exists(fixtures):
        registry = json.load(open(fixtures))["registry"]
        commands["audit python"] = lambda b: [b, "audit", f"{registry}/archsmoke/real:python",
                                              "--json"]
    for name, cmd in commands.items():
        for profile in built:  # warm-up
            wall_of(cmd(built[profile]))
        for rnd in range(args.rounds):
            order = list(built) if rnd % 2 == 0 else list(reversed(built))
            for profile in order:
                runs.setdefault((name, profile), []).append(wall_of(cmd(built[profile])))
        rel = statistics.median(runs[(name, "release")])
        dist = statistics.median(runs[(name, "dist")])
        print(f"{name:<13} release {rel:6.3f}s  dist {dist:6.3f}s  release/dist {rel / dist:.2f} "
              f"(median of {args.rounds}, alternating; {load()})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
