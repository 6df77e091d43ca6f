#!/usr/bin/env python3
"""Routing overhead: the same 6-platform x 10-test matrix on ONE engine (the test bed's engine2)
reached three ways, side by side in one run: its unix socket, TCP with TLS, and ssh (the system
ssh client running `docker system dial-stdio` on the far side, as the docker CLI does).

The transports alternate round by round so that the ratios compare like with like on this
machine at this moment; images are present before the first round (a warm-up run pulls them).

Usage: sudo benches/engines.py [--rounds N] [--bin PATH] [--jobs N]
Needs the test bed (tests/testbed/up.sh, which runs tests/testbed/engines.sh).
Prints the median wall time per transport, its ratio to the unix socket, and archsmoke's own
phases (engine handshake, containers) from its JSON report.
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
    ("echo", ["echo", "hello"]),
    ("uname", ["uname", "-m"]),
    ("shell", ["sh", "-c", "echo $((6 * 7))"]),
    ("ls", ["ls", "/bin"]),
    ("passwd", ["cat", "/etc/passwd"]),
    ("id", ["id", "-u"]),
    ("env", ["env"]),
    ("date", ["date", "+%Y"]),
    ("wc", ["sh", "-c", "echo a b c | wc -w"]),
]


def spec_text(image):
    out = [f'image = "{image}"', ""]
    for name, cmd in TESTS:
        out += ["[[test]]", f'name = "{name}"', f"command = {json.dumps(cmd)}", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "archsmoke"))
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    bed = json.load(open(os.path.join(STATE, "engines", "engines.json")))
    fixtures = json.load(open(os.path.join(STATE, "fixtures.json")))
    image = f"{fixtures['registry']}/{fixtures['repository']}:multi"
    tls_env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": bed["cert_path"]}
    transports = [
        ("unix socket", bed["engine2_socket"], {}),
        ("tcp + TLS", bed["engine2_tls"], tls_env),
        ("ssh", bed["ssh_engine2"], {}),
    ]
    work = tempfile.mkdtemp(prefix="archsmoke-bench-engines-")
    spec = os.path.join(work, "matrix.toml")
    with open(spec, "w") as f:
        f.write(spec_text(image))

    def run(host, extra_env):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(extra_env)
        env["NO_COLOR"] = "1"
        report = os.path.join(work, "report.json")
        start = time.monotonic()
        p = subprocess.run(
            [args.bin, "run", spec, "--host", host, "--jobs", str(args.jobs), "--json", report],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"archsmoke via {host} exited {p.returncode}:\n{p.stderr[-2000:]}")
        r = json.load(open(report))
        return wall, r["phases"]["engine_secs"], r["phases"]["run_secs"]

    print("warm-up (pulls the six platforms into engine2 once)...", file=sys.stderr)
    run(transports[0][1], {})
    results = {name: [] for name, _, _ in transports}
    for rnd in range(args.rounds):
        for name, host, env in transports:
            results[name].append(run(host, env))
            print(f"round {rnd + 1} {name}: {results[name][-1][0]:.2f}s", file=sys.stderr)

    base = statistics.median(w for w, _, _ in results["unix socket"])
    print(f"\nSame matrix (6 platforms x {len(TESTS)} tests, --jobs {args.jobs}) on engine2, "
          f"median of {args.rounds} rounds; load {os.getloadavg()[0]:.1f}")
    print(f"{'transport':<12} {'wall':>8} {'ratio':>7} {'handshake':>10} {'containers':>11}")
    for name, _, _ in transports:
        rows = results[name]
        wall = statistics.median(w for w, _, _ in rows)
        hs = statistics.median(e for _, e, _ in rows)
        cont = statistics.median(c for _, _, c in rows)
        print(f"{name:<12} {wall:>7.2f}s {wall / base:>6.2f}x {hs:>9.2f}s {cont:>10.2f}s")


if __name__ == "__main__":
    main()
