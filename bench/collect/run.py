"""Benchmark collect on a generated 1 GB audit log: throughput against grep, peak memory, incremental cost.

Runs the collection's module_utils directly (no Ansible). Each measured run is a separate child process, so its
peak RSS is its own. The file is read once beforehand so both grep and collect read from the page cache.

Usage: python3 bench/collect/run.py [--size-mb 1024] [--dir .build/bench] [--keep] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
GREP_PATTERN = "apparmor=|type=SECCOMP|type=1326"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.confine.docker.plugins.module_utils._events import Collector, SyscallResolver
from ansible_collections.confine.docker.plugins.module_utils._sources import collect
since = json.loads(sys.argv[3]) if sys.argv[3] != "-" else None
start = time.perf_counter()
collector = Collector(resolver=SyscallResolver())
cursor, stats = collect("audit", collector, paths=[sys.argv[2]], since=since)
result = collector.result()
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "cursor": cursor, "bytes": stats["bytes"],
                  "records": result["stats"]["records"], "apparmor": len(result["apparmor"]),
                  "seccomp": len(result["seccomp"]), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def link_collection():
    """Make the checkout resolvable as confine.docker, the way `make` does it."""
    subprocess.run([os.path.join(ROOT, "scripts", "link-collection")], check=True)


def warm(path):
    with open(path, "rb") as handle:
        while handle.read(16 << 20):
            pass


def timed(argv, env=None):
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, proc.stdout


def collect_run(path, since=None):
    argv = [sys.executable, "-c", CHILD, COLLECTIONS, path, json.dumps(since) if since else "-"]
    wall, out = timed(argv)
    data = json.loads(out)
    data["wall"] = wall
    return data


def grep_run(path):
    env = dict(os.environ, LC_ALL="C")
    wall, out = timed(["grep", "-cE", GREP_PATTERN, path], env=env)
    return wall, int(out.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--dir", default=os.path.join(ROOT, ".build", "bench"))
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the best is reported")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    link_collection()
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "audit.log")
    generate = [sys.executable, os.path.join(HERE, "generate.py")]
    gen_wall, _out = timed([*generate, path, str(args.size_mb)])
    size = os.path.getsize(path)
    warm(path)

    grep_times, counts = zip(*(grep_run(path) for _run in range(args.repeat)))
    full_runs = [collect_run(path) for _run in range(args.repeat)]
    full = min(full_runs, key=lambda run: run["seconds"])
    grep_best = min(grep_times)

    subprocess.run([*generate, path, "0", "--append-percent", "1"], check=True, capture_output=True)
    appended = os.path.getsize(path) - size
    warm(path)
    incr_runs = [collect_run(path, since=full["cursor"]) for _run in range(args.repeat)]
    incr = min(incr_runs, key=lambda run: run["seconds"])
    _grep_after, relevant_after = grep_run(path)

    figures = {
        "size_bytes": size,
        "generate_seconds": round(gen_wall, 2),
        "relevant_lines": counts[0],
        "grep_seconds": round(grep_best, 3),
        "grep_mb_per_s": round(size / grep_best / 1e6, 1),
        "collect_seconds": round(full["seconds"], 3),
        "collect_wall_seconds": round(full["wall"], 3),
        "collect_mb_per_s": round(size / full["seconds"] / 1e6, 1),
        "throughput_ratio": round(grep_best / full["seconds"], 3),
        "collect_records": full["records"],
        "collect_events": {"apparmor": full["apparmor"], "seccomp": full["seccomp"]},
        "peak_rss_mb": round(max(run["maxrss_kb"] for run in full_runs + incr_runs) / 1024.0, 1),
        "appended_bytes": appended,
        "incremental_seconds": round(incr["seconds"], 3),
        "incremental_bytes_read": incr["bytes"],
        "incremental_records": incr["records"],
        "incremental_expected_records": relevant_after - counts[0],
        "incremental_ratio": round(incr["seconds"] / full["seconds"], 4),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    figures["pass"] = {
        "throughput_at_least_half_of_grep": figures["throughput_ratio"] >= 0.5,
        "peak_rss_under_100_mb": figures["peak_rss_mb"] < 100,
        "incremental_at_most_5_percent": figures["incremental_ratio"] <= 0.05,
        "no_double_count": figures["collect_records"] == counts[0]
        and figures["incremental_records"] == figures["incremental_expected_records"],
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if not args.keep:
        os.unlink(path)
    return 0 if all(figures["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
