#!/usr/bin/env python3
"""Fleet benchmark: the collection's deploy modules against plain ansible.builtin.copy on 20 container hosts.

The hosts are containers on the local dockerd (``confine-bench-fleet-01`` ..), reached with the
``community.docker.docker`` connection. ``deploy.yml`` writes a container's AppArmor profile (complain mode, compiled
by apparmor_parser, not loaded), its seccomp trial and enforcing profiles and the hardened daemon.json with
``confine.docker.apparmor_profile``, ``seccomp_profile`` and ``daemon_config``; ``copy.yml`` writes the same four
files, byte for byte, with ``ansible.builtin.copy`` (their contents are fetched from a host deploy.yml ran on).

Steps: build the bench image (Debian bookworm + python3 + apparmor, cached by a recipe label); time first runs of
deploy.yml and copy.yml, each on newly started hosts (after the first deploy.yml run the files it wrote are fetched
as copy.yml's sources; after every first run each host must hold exactly those bytes); time no-op re-runs of both
playbooks alternating (order swapped every round; every host must report changed=0), with the seconds of each task;
take the medians and the ratio deploy / copy; then, on one host, count the docker CLI calls per task and time every
module run without the connection; remove the hosts. Exit status 1 when the ratio is above 1.3.

Needs docker and the collection's virtualenv. Run from the collection root:
    .venv/bin/python bench/fleet/run.py [--hosts 20] [--first-runs 2] [--rounds 4] [--json bench/fleet/results.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
WORKDIR = os.path.join(ROOT, ".build", "bench", "fleet")
EXPECTED = os.path.join(WORKDIR, "expected")
BASE_IMAGE = "confine-lab/base:bookworm"
IMAGE = "confine-bench/fleet:latest"
RECIPE_LABEL = "confine.bench.fleet.recipe"
PREFIX = "confine-bench-fleet-"
BUILDER = PREFIX + "build"
# The parent directories of the four files exist in the image (as on a Docker host the runbook prepared):
# ansible.builtin.copy does not create the parents of a file, and both playbooks should do the same work.
BUILD_SCRIPT = (
    "set -e; apt-get update; "
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends apparmor; "
    "apt-get clean; rm -rf /var/lib/apt/lists/*; "
    "mkdir -p /etc/docker/seccomp /etc/apparmor.d/containers; "
    "command -v apparmor_parser; test -x /usr/bin/python3"
)
# The files deploy.yml writes, relative to /etc on the host (and to EXPECTED on the controller).
FILES = ["apparmor.d/containers/demo", "docker/seccomp/demo.trial.json", "docker/seccomp/demo.json",
         "docker/daemon.json"]
TASKS = 4  # tasks per playbook, each writes one file
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)
LIMIT = 1.3
# Every timed run reports the seconds of each task (the callback only adds a summary at the end).
PROFILE_TASKS = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def docker(*args, check=True, capture=True):
    proc = subprocess.run(["docker", *args], capture_output=capture, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("docker %s failed (rc=%d): %s" % (" ".join(args), proc.returncode, proc.stderr.strip()))
    return proc


def link_collection():
    """Make the checkout resolvable as confine.docker, the way `make` does it."""
    subprocess.run([os.path.join(ROOT, "scripts", "link-collection")], check=True)


def ensure_image():
    """Build IMAGE from BASE_IMAGE unless an image with this recipe's label exists. Returns the recipe hash."""
    base_id = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE, check=False)
    if base_id.returncode != 0:
        raise SystemExit("%s is missing: build it with lab/images/build" % BASE_IMAGE)
    recipe = hashlib.sha256((base_id.stdout.strip() + "\n" + BUILD_SCRIPT).encode()).hexdigest()[:16]
    have = docker("image", "inspect", "--format", '{{ index .Config.Labels "%s" }}' % RECIPE_LABEL, IMAGE,
                  check=False)
    if have.returncode == 0 and have.stdout.strip() == recipe:
        log("image %s is current (recipe %s)" % (IMAGE, recipe))
        return recipe
    old = docker("image", "inspect", "--format", "{{.Id}}", IMAGE, check=False).stdout.strip()
    log("building %s from %s (apt-get install apparmor)" % (IMAGE, BASE_IMAGE))
    docker("rm", "-f", BUILDER, check=False)
    try:
        run = docker("run", "--name", BUILDER, BASE_IMAGE, "sh", "-c", BUILD_SCRIPT, check=False)
        if run.returncode != 0:
            raise SystemExit("building the bench image failed:\n%s%s" % (run.stdout[-2000:], run.stderr[-2000:]))
        docker("commit", "--change", 'CMD ["sleep", "infinity"]', "--change",
               "LABEL %s=%s" % (RECIPE_LABEL, recipe), BUILDER, IMAGE)
    finally:
        docker("rm", "-f", BUILDER, check=False)
    if old:
        docker("rmi", old, check=False)  # the previous build, now untagged
    return recipe


def host_names(count):
    return ["%s%02d" % (PREFIX, index) for index in range(1, count + 1)]


def remove_fleet(names):
    existing = set(docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
    ours = [name for name in names if name in existing]
    if ours:
        docker("rm", "-f", *ours)


def start_fleet(names):
    """Fresh containers: remove ours if left over, then start them (4 at a time)."""
    remove_fleet(names)

    def start(name):
        docker("run", "-d", "--name", name, "--hostname", name, "--network", "none", IMAGE, "sleep", "infinity")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(start, names))


def write_inventory(names):
    path = os.path.join(WORKDIR, "inventory.ini")
    lines = ["[fleet]", *names, "", "[fleet:vars]", "ansible_connection=community.docker.docker",
             "ansible_python_interpreter=/usr/bin/python3", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def playbook(name, inventory, names, expect_changed, env=None, limit=None):
    """Run a playbook; check every host's recap; return (seconds, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(HERE, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", **(env or {}))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
            os.path.join(HERE, name)]
    if limit:
        argv += ["--limit", limit]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    recap = {host: tuple(int(n) for n in counts) for host, *counts in RECAP.findall(proc.stdout)}
    problems = []
    if proc.returncode != 0:
        problems.append("rc=%d" % proc.returncode)
    if sorted(recap) != sorted(names):
        problems.append("recap lists %d of %d hosts" % (len(recap), len(names)))
    for host, (ok, changed, unreachable, failed) in sorted(recap.items()):
        if (ok, changed, unreachable, failed) != (TASKS, expect_changed, 0, 0):
            problems.append("%s: ok=%d changed=%d unreachable=%d failed=%d (expected ok=%d changed=%d)"
                            % (host, ok, changed, unreachable, failed, TASKS, expect_changed))
    if problems:
        sys.stdout.write(proc.stdout[-6000:] + proc.stderr[-3000:])
        raise SystemExit("%s: %s" % (name, "; ".join(problems[:5])))
    return seconds, proc.stdout


def fetch_expected(host):
    """Copy the files deploy.yml wrote on ``host`` into EXPECTED (the sources of copy.yml)."""
    shutil.rmtree(EXPECTED, ignore_errors=True)
    for rel in FILES:
        target = os.path.join(EXPECTED, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        docker("cp", "%s:/etc/%s" % (host, rel), target)
    return {rel: sha256_file(os.path.join(EXPECTED, rel)) for rel in FILES}


def sha256_file(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def check_files(names, digests):
    """Every host holds the expected files, byte for byte, with mode 0644."""
    paths = ["/etc/" + rel for rel in FILES]
    for name in names:
        out = docker("exec", name, "sh", "-c", 'sha256sum "$@"; stat -c "%a %n" "$@"', "sh", *paths).stdout
        for rel, path in zip(FILES, paths):
            if "%s  %s" % (digests[rel], path) not in out or "644 %s" % path not in out:
                raise SystemExit("%s: %s differs from the expected file:\n%s" % (name, path, out))


def task_times(output):
    """Per-task seconds from the profile_tasks summary (the playbook's own task names)."""
    summary = output.rsplit("PLAY RECAP", 1)[-1]
    return {name.strip(): float(seconds) for name, seconds in TASK_TIME.findall(summary)}


def docker_calls(inventory, host):
    """Docker CLI calls per task of a no-op re-run of each playbook on ``host``, by subcommand.

    A ``docker`` wrapper first on PATH logs each call's subcommand; the connection plugin finds it like the real one.
    """
    real = shutil.which("docker")
    shim = os.path.join(WORKDIR, "shim")
    calls = os.path.join(WORKDIR, "docker-calls.log")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "docker"), "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\nprintf "%%s\\n" "$1" >> %s\nexec %s "$@"\n' % (calls, real))
    os.chmod(os.path.join(shim, "docker"), 0o755)
    env = {"PATH": shim + os.pathsep + os.environ.get("PATH", "")}
    result = {}
    for which in ("deploy", "copy"):
        open(calls, "w").close()
        playbook(which + ".yml", inventory, [host], expect_changed=0, env=env, limit=host)
        counted = {}
        with open(calls, encoding="utf-8") as handle:
            for word in handle.read().split():
                counted[word] = counted.get(word, 0) + 1
        result[which] = {word: round(count / TASKS, 2) for word, count in sorted(counted.items())}
    return result


# Runs inside a host. argv[1] is JSON: {"repeat": N, "groups": {playbook: [module payload, ...]}}. Times every payload
# and the apparmor_parser calls of apparmor_profile in rounds (each item once per round, so load that comes and goes
# falls on all of them alike) and prints the medians and each payload's last result as JSON.
TIMER = r"""
import json, os, statistics, subprocess, sys, time

spec = json.loads(sys.argv[1])
profile = "/etc/apparmor.d/containers/demo"
items = [(group, index, [sys.executable, payload])
         for group, payloads in spec["groups"].items() for index, payload in enumerate(payloads)]
items += [("commands", "python3_start", [sys.executable, "-c", "pass"]),
          ("commands", "apparmor_parser_QK", ["apparmor_parser", "-QK", profile]),
          ("commands", "apparmor_parser_N", ["apparmor_parser", "-N", profile])]
samples = {(group, key): [] for group, key, _argv in items}
last = {}
for _round in range(spec["repeat"]):
    for group, key, argv in items:
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        samples[(group, key)].append(time.perf_counter() - start)
        last[(group, key)] = (proc.returncode, proc.stdout)
out = {"commands": {}}
for group, key, argv in items:
    seconds = statistics.median(samples[(group, key)])
    if group == "commands":
        out["commands"][key] = seconds
        continue
    result = json.loads(last[(group, key)][1])
    out.setdefault(group, []).append({"module": os.path.basename(argv[1])[len("AnsiballZ_"):-3], "seconds": seconds,
                                      "changed": result.get("changed"), "failed": bool(result.get("failed"))})
print(json.dumps(out))
"""


def kept_payloads(host):
    """The module payloads in ``host``'s ~/.ansible/tmp, in the order the tasks ran (stat before file for copy)."""
    listing = docker("exec", host, "sh", "-c", "ls -d /root/.ansible/tmp/ansible-tmp-*/AnsiballZ_*.py").stdout.split()
    def order(path):
        tmpdir, payload = path.rsplit("/", 1)
        return float(tmpdir.rsplit("ansible-tmp-", 1)[1].split("-")[0]), payload != "AnsiballZ_stat.py"
    return sorted(listing, key=order)


def module_costs(inventory, host, repeat):
    """Seconds each module run of a no-op re-run takes on one host, without the connection (medians).

    Each playbook runs once more on ``host`` without pipelining and with ANSIBLE_KEEP_REMOTE_FILES, which leaves
    every module payload (arguments included) in the host's ~/.ansible/tmp; TIMER runs the payloads of both
    playbooks ``repeat`` times there. The payloads are re-runs, so they change nothing.
    """
    env = {"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "False"}
    docker("exec", host, "rm", "-rf", "/root/.ansible/tmp")
    groups = {}
    for which in ("deploy", "copy"):
        playbook(which + ".yml", inventory, [host], expect_changed=0, env=env, limit=host)
        seen = {path for paths in groups.values() for path in paths}
        groups[which] = [path for path in kept_payloads(host) if path not in seen]
    proc = docker("exec", host, "python3", "-c", TIMER, json.dumps({"repeat": repeat, "groups": groups}))
    docker("exec", host, "rm", "-rf", "/root/.ansible/tmp")
    data = json.loads(proc.stdout)
    costs = {}
    for which in ("deploy", "copy"):
        bad = [run for run in data[which] if run["changed"] or run["failed"]]
        if bad:
            raise SystemExit("a kept module run of %s.yml changed or failed: %s" % (which, bad))
        costs[which] = {
            "modules": [{"module": run["module"], "seconds": round(run["seconds"], 4)} for run in data[which]],
            "total": round(sum(run["seconds"] for run in data[which]), 4),
        }
    costs["commands"] = {key: round(value, 4) for key, value in data["commands"].items()}
    return costs


def render_seconds(repeat=20):
    """Controller time of apparmor_profile's action plugin turning the spec into profile text (median)."""
    import yaml  # the virtualenv's, as is the collection's action plugin below

    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.confine.docker.plugins.action.apparmor_profile import render_profile

    with open(os.path.join(HERE, "deploy.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)[0]["tasks"][0]["confine.docker.apparmor_profile"]["spec"]
    samples = []
    for _run in range(repeat):
        start = time.perf_counter()
        render_profile(spec, name="demo")
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples), 4)


def rounded(values):
    return [round(value, 2) for value in values]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--first-runs", type=int, default=2, help="first runs of each playbook, each on new hosts")
    parser.add_argument("--rounds", type=int, default=4, help="timed re-runs of each playbook (alternating)")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"), help="write the results here")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running at the end")
    args = parser.parse_args()

    load_start = [round(value, 2) for value in os.getloadavg()]
    link_collection()
    os.makedirs(WORKDIR, exist_ok=True)
    recipe = ensure_image()
    names = host_names(args.hosts)
    inventory = write_inventory(names)
    firsts = {"deploy": [], "copy": []}
    samples = {"deploy": [], "copy": []}
    tasks = {"deploy": [], "copy": []}
    try:
        for index in range(args.first_runs):
            for which in ("deploy", "copy"):
                log("starting %d fresh hosts; %s.yml, first run" % (len(names), which))
                start_fleet(names)
                seconds, _out = playbook(which + ".yml", inventory, names, expect_changed=TASKS)
                firsts[which].append(seconds)
                if which == "deploy" and index == 0:
                    digests = fetch_expected(names[0])
                check_files(names, digests)
            log("first runs %d: deploy %.2fs, copy %.2fs" % (index + 1, firsts["deploy"][-1], firsts["copy"][-1]))

        # The hosts now hold what copy.yml wrote; the first re-run is deploy.yml's, and its changed=0 shows that the
        # modules find the copied files identical to what they would write.
        for index in range(args.rounds):
            order = ("deploy", "copy") if index % 2 == 0 else ("copy", "deploy")
            for which in order:
                seconds, out = playbook(which + ".yml", inventory, names, expect_changed=0, env=PROFILE_TASKS)
                samples[which].append(seconds)
                tasks[which].append(task_times(out))
            log("re-runs %d: deploy %.2fs, copy %.2fs" % (index + 1, samples["deploy"][-1], samples["copy"][-1]))

        log("breakdown on %s: docker calls per task, seconds of each module run" % names[0])
        calls = docker_calls(inventory, names[0])
        modules = module_costs(inventory, names[0], repeat=9)
    finally:
        if not args.keep:
            log("removing the hosts")
            remove_fleet(names)

    deploy_first = statistics.median(firsts["deploy"])
    copy_first = statistics.median(firsts["copy"])
    deploy_rerun = statistics.median(samples["deploy"])
    copy_rerun = statistics.median(samples["copy"])
    ratio = deploy_rerun / copy_rerun
    results = {
        "date": datetime.date.today().isoformat(),
        "hosts": len(names),
        "tasks_per_playbook": TASKS,
        "connection": "community.docker.docker (pipelining, forks 20)",
        "image": IMAGE,
        "image_recipe": recipe,
        "docker": docker("version", "--format", "{{.Server.Version}}").stdout.strip(),
        "cpus": os.cpu_count(),
        "first_runs": args.first_runs,
        "first_run_seconds_samples": {key: rounded(values) for key, values in firsts.items()},
        "first_run_seconds_median": {"deploy": round(deploy_first, 2), "copy": round(copy_first, 2)},
        "first_run_ratio": round(deploy_first / copy_first, 3),
        "rerun_rounds": args.rounds,
        "rerun_seconds_samples": {key: rounded(values) for key, values in samples.items()},
        "rerun_seconds_median": {"deploy": round(deploy_rerun, 2), "copy": round(copy_rerun, 2)},
        "rerun_ratio": round(ratio, 3),
        "rerun_ratio_per_round": [round(d / c, 3) for d, c in zip(samples["deploy"], samples["copy"])],
        "rerun_ratio_limit": LIMIT,
        "rerun_ratio_pass": ratio <= LIMIT,
        "rerun_changed": 0,
        "rerun_per_task_seconds_median": {
            which: {name: round(statistics.median(run[name] for run in runs), 2) for name in runs[0]}
            for which, runs in tasks.items()
        },
        "rerun_docker_calls_per_host_and_task": calls,
        "target_seconds_per_host": modules,
        "controller_render_seconds_per_host": render_seconds(),
        "files": digests,
        "load_avg_start": load_start,
        "load_avg_end": [round(value, 2) for value in os.getloadavg()],
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0 if results["rerun_ratio_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
