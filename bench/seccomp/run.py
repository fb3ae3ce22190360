#!/usr/bin/env python3
"""Seccomp overhead: a syscall-heavy loop in a container under three profiles, alternating runs.

Profiles: the least-privilege profile the collection generates for the loop (runtime minimum + the loop's observed
syscalls), Docker's built-in default profile, and unconfined. Each run times the loop inside the container; the
order of the three rotates every round. Prints the medians (ns per round of 4 syscalls) and both ratios, and
optionally writes them as JSON.

Needs: python3, docker (with the image below) and gcc on the host. Run from the collection root:
    python3 bench/seccomp/run.py --rounds 9 --iterations 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OBSERVED = ["openat", "getppid", "getuid", "read", "lseek", "write", "exit_group"]


def collection_path():
    link = os.path.join(ROOT, ".build", "collections")
    target = os.path.join(link, "ansible_collections", "confine", "docker")
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.path.join("..", "..", "..", ".."), target)
    return link


def build(workdir):
    binary = os.path.join(workdir, "loop")
    subprocess.run(["gcc", "-O2", "-static", "-o", binary, os.path.join(HERE, "loop.c")], check=True)
    return binary


def profiles(workdir):
    sys.path.insert(0, collection_path())
    from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc

    path = os.path.join(workdir, "least-privilege.json")
    profile = sc.least_privilege(OBSERVED)
    sc.parse_profile(profile)  # names checked with libseccomp
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(sc.canonical_json(profile))
    allowed = len(profile["syscalls"][0]["names"])
    return {"least-privilege": ["--security-opt", "seccomp=%s" % path], "docker-default": [],
            "unconfined": ["--security-opt", "seccomp=unconfined"]}, allowed


def run_once(docker, image, binary, options, iterations):
    cmd = [docker, "run", "--rm", "--network", "none", *options, "-v", "%s:/loop:ro" % binary, image, "/loop",
           str(iterations)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("benchmark run failed: %s\n%s" % (" ".join(cmd), proc.stderr))
    return float(proc.stdout.split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--iterations", type=int, default=2000000)
    parser.add_argument("--image", default="confine-lab/base:bookworm")
    parser.add_argument("--docker", default="docker")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="confine-bench-seccomp-") as workdir:
        binary = build(workdir)
        opts, allowed = profiles(workdir)
        names = list(opts)
        run_once(args.docker, args.image, binary, opts["unconfined"], 1000)  # warm the image and page cache
        samples = {name: [] for name in names}
        started = time.time()
        for round_no in range(args.rounds):
            order = names[round_no % 3:] + names[:round_no % 3]
            for name in order:
                samples[name].append(run_once(args.docker, args.image, binary, opts[name], args.iterations))
        elapsed = time.time() - started

    med = {name: statistics.median(values) for name, values in samples.items()}
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": "%s, %d cores, kernel %s" % (platform.machine(), os.cpu_count() or 0, platform.release()),
        "docker": subprocess.run([args.docker, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "rounds": args.rounds,
        "iterations": args.iterations,
        "least_privilege_allowed": allowed,
        "median_ns_per_round": med,
        "samples": samples,
        "ratio_least_privilege_vs_docker_default": med["least-privilege"] / med["docker-default"],
        "ratio_least_privilege_vs_unconfined": med["least-privilege"] / med["unconfined"],
        "ratio_docker_default_vs_unconfined": med["docker-default"] / med["unconfined"],
        "wall_seconds": round(elapsed, 1),
    }
    for name in names:
        print("%-16s median %8.1f ns per round (4 syscalls)  samples %s"
              % (name, med[name], " ".join("%.1f" % v for v in samples[name])))
    print("least-privilege / docker-default = %.3f" % result["ratio_least_privilege_vs_docker_default"])
    print("least-privilege / unconfined     = %.3f" % result["ratio_least_privilege_vs_unconfined"])
    print("docker-default  / unconfined     = %.3f" % result["ratio_docker_default_vs_unconfined"])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, sort_keys=True)
            handle.write("\n")


if __name__ == "__main__":
    main()
