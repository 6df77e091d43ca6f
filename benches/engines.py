#!/usr/bin/env python3
"""Routing overhead: the same 6-platform matrix on ONE engine (the test bed's engine2) reached
four ways, side by side in one run: its own unix socket (the baseline), TCP with TLS, ssh (the
system ssh client running `docker system dial-stdio` on the far side, as the docker CLI does),
and TCP with TLS with `--reprobe` (what a run costs when the probe cache cannot answer).

A unix socket engine is local: archsmoke reads this machine's binfmt_misc for it. TLS and ssh
engines are remote: what they emulate is learned by probe containers, or from the probe cache
that an earlier run against the same engine (same ID, same daemon start) filled. The warm-up
runs fill the cache and pull the images, so the rounds compare like with like.

The ways alternate round by round (a different one first each round) so that the ratios hold
on this shared machine at this moment; each is a whole `archsmoke run` process.

Usage: sudo benches/engines.py [--rounds N] [--bin PATH] [--jobs N] [--tests N]
Needs the test bed (tests/testbed/up.sh, which runs tests/testbed/engines.sh).
Prints the median wall time per way, its ratio to the unix socket, archsmoke's own phases
(engine handshake, probe or cache, containers) from its JSON report, and the targets.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("ARCHSMOKE_TESTBED_DIR", "/var/tmp/archsmoke-testbed")

TESTS = [
    ("true", ["true"]),
    ("uname", ["uname", "-m"]),
    ("shell", ["sh", "-c", "echo $((6 * 7))"]),
    ("echo", ["echo", "hello"]),
    ("ls", ["ls", "/bin"]),
    ("passwd", ["cat", "/etc/passwd"]),
    ("id", ["id", "-u"]),
    ("env", ["env"]),
    ("date", ["date", "+%Y"]),
    ("wc", ["sh", "-c", "echo a b c | wc -w"]),
]

# What the issue (29) asks: a remote engine at most this much slower than its own unix socket.
TARGET = 1.15


def spec_text(image, tests):
    out = [f'image = "{image}"', ""]
    for name, cmd in TESTS[:tests]:
        out += ["[[test]]", f'name = "{name}"', f"command = {json.dumps(cmd)}", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "archsmoke"))
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--tests", type=int, default=3, help="tests per platform (1-10)")
    args = ap.parse_args()
    bed = json.load(open(os.path.join(STATE, "engines", "engines.json")))
    fixtures = json.load(open(os.path.join(STATE, "fixtures.json")))
    image = f"{fixtures['registry']}/{fixtures['repository']}:multi"
    tls_env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": bed["cert_path"]}
    ways = [
        ("unix socket", bed["engine2_socket"], {}, []),
        ("tcp + TLS", bed["engine2_tls"], tls_env, []),
        ("ssh", bed["ssh_engine2"], {}, []),
        ("TLS --reprobe", bed["engine2_tls"], tls_env, ["--reprobe"]),
    ]
    work = tempfile.mkdtemp(prefix="archsmoke-bench-engines-")
    # A cache of the benchmark's own, so that what it measures does not depend on earlier runs.
    cache = os.path.join(work, "cache")
    spec = os.path.join(work, "matrix.toml")
    with open(spec, "w") as f:
        f.write(spec_text(image, args.tests))

    def run(host, extra_env, flags):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(extra_env)
        env["NO_COLOR"] = "1"
        env["XDG_CACHE_HOME"] = cache
        report = os.path.join(work, "report.json")
        start = time.monotonic()
        p = subprocess.run(
            [args.bin, "run", spec, "--host", host, "--jobs", str(args.jobs), "--json", report]
            + flags,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"archsmoke via {host} exited {p.returncode}:\n{p.stderr[-2000:]}")
        ph = json.load(open(report))["phases"]
        counts = ph.get("probe_platforms") or {}
        return {
            "wall": wall,
            "engine": ph["engine_secs"] or 0.0,
            "probe": ph.get("probe_secs") or 0.0,
            "probed": counts.get("probed", 0),
            "cached": counts.get("cached", 0),
            "run": ph["run_secs"] or 0.0,
        }

    print("warm-up (pulls the six platforms into engine2, fills the probe cache)...",
          file=sys.stderr)
    for _, host, env, flags in ways:
        run(host, env, flags)
    results = {name: [] for name, _, _, _ in ways}
    load = [os.getloadavg()]
    for rnd in range(args.rounds):
        order = ways[rnd % len(ways):] + ways[:rnd % len(ways)]
        for name, host, env, flags in order:
            results[name].append(run(host, env, flags))
            print(f"round {rnd + 1} {name}: {results[name][-1]['wall']:.2f}s", file=sys.stderr)
        load.append(os.getloadavg())

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    base = med("unix socket", "wall")
    print(f"\nSame matrix (6 platforms x {args.tests} tests, --jobs {args.jobs}) on engine2, "
          f"median of {args.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("load average (1 min) before each round and after the last: "
          + " ".join(f"{l[0]:.1f}" for l in load))
    print(f"{'way':<14} {'wall':>7} {'ratio':>6} {'handshake':>9} {'emulators':>9} "
          f"{'probed/cached':>13} {'containers':>10}")
    for name, _, _, _ in ways:
        rows = results[name]
        wall = med(name, "wall")
        print(f"{name:<14} {wall:>6.2f}s {wall / base:>5.2f}x {med(name, 'engine'):>8.2f}s "
              f"{med(name, 'probe'):>8.2f}s {rows[-1]['probed']:>6}/{rows[-1]['cached']:<6} "
              f"{med(name, 'run'):>9.2f}s")
    print("\ntargets:")
    for name in ("tcp + TLS", "ssh"):
        ratio = med(name, "wall") / base
        verdict = "PASS" if ratio <= TARGET else "MISS"
        print(f"  {verdict}  {name} / unix socket: {ratio:.3f} (target <= {TARGET})")
    ratio = med("TLS --reprobe", "wall") / base
    print(f"  (not a target) TLS --reprobe / unix socket: {ratio:.3f}")


if __name__ == "__main__":
    main()
