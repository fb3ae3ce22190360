#!/usr/bin/env python3
"""Fleet benchmark: the collection's deploy modules against plain ansible.builtin.copy on 20 container hosts.

The hosts are containers on the local dockerd (``confine-bench-fleet-01`` ..), reached with the
``community.docker.docker`` connection. ``deploy.yml`` writes a container's AppArmor profile (complain mode, compiled
by apparmor_parser, not loaded), its seccomp trial and enforcing profiles and the hardened daemon.json with
``confine.docker.apparmor_profile``, ``seccomp_profile`` and ``daemon_config``; ``copy.yml`` writes the same four
files, byte for byte, with ``ansible.builtin.copy`` (their contents are fetched from a host deploy.yml ran on).

Steps: build the bench image (Debian bookworm + python3 + apparmor, cached by a recipe label), start the fleet,
time deploy.yml on fresh hosts, fetch the files it wrote, recreate the fleet, time copy.yml on fresh hosts, check
that deploy.yml then changes nothing (the files are identical), time no-op re-runs of both playbooks alternating
(order swapped every round), take the medians and the ratio deploy / copy, break one re-run of each down per task,
time the target-side work of the modules, and remove the fleet.

Needs docker and the collection's virtualenv. Run from the collection root:
    .venv/bin/python bench/fleet/run.py [--hosts 20] [--rounds 5] [--json bench/fleet/results.json]
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
BUILD_SCRIPT = (
    "set -e; apt-get update; "
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends apparmor; "
    "apt-get clean; rm -rf /var/lib/apt/lists/*; "
    "mkdir -p /etc/docker/seccomp /etc/apparmor.d/containers; "
    "command -v apparmor_parser; test -x /usr/bin/python3"
)
# The parent directories exist in the image (as on a Docker host the runbook prepared): ansible.builtin.copy does not
# create the parents of a file, and both playbooks should do the same work.
# The files deploy.yml writes, relative to /etc on the host (and to EXPECTED on the controller).
FILES = ["apparmor.d/containers/demo", "docker/seccomp/demo.trial.json", "docker/seccomp/demo.json",
         "docker/daemon.json"]
TASKS = 4  # tasks per playbook, each writes one file
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)
LIMIT = 1.3


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def docker(*args, check=True, capture=True):
    proc = subprocess.run(["docker", *args], capture_output=capture, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("docker %s failed (rc=%d): %s" % (" ".join(args), proc.returncode, proc.stderr.strip()))
    return proc


def link_collection():
    parent = os.path.join(COLLECTIONS, "ansible_collections", "confine")
    os.makedirs(parent, exist_ok=True)
    link = os.path.join(parent, "docker")
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", "..", "..", ".."), link)


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
    lines = ["[fleet]"] + names + [
        "",
        "[fleet:vars]",
        "ansible_connection=community.docker.docker",
        "ansible_python_interpreter=/usr/bin/python3",
        "",
    ]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def playbook(name, inventory, names, expect_changed, callbacks=None):
    """Run a playbook; check every host's recap; return (seconds, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(HERE, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    if callbacks:
        env["ANSIBLE_CALLBACKS_ENABLED"] = callbacks
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
            os.path.join(HERE, name)]
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


def exec_seconds(host, command, repeat):
    """Median wall time of ``docker exec host sh -c command``."""
    samples = []
    for _run in range(repeat):
        start = time.perf_counter()
        docker("exec", host, "sh", "-c", command)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def target_costs(host, repeat):
    """The target-side pieces of a no-op re-run, timed on one idle host (seconds, median of ``repeat``)."""
    profile = "/etc/" + FILES[0]
    baseline = exec_seconds(host, "true", repeat)
    costs = {
        "docker_exec_true": baseline,
        "python3_start": exec_seconds(host, "python3 -c pass", repeat),
        "apparmor_parser_QK": exec_seconds(host, "apparmor_parser -QK %s" % profile, repeat),
        "apparmor_parser_N": exec_seconds(host, "apparmor_parser -N %s" % profile, repeat),
    }
    return {key: round(value, 4) for key, value in costs.items()}


def rounded(values):
    return [round(value, 2) for value in values]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="timed re-runs of each playbook (alternating)")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"), help="write the results here")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running at the end")
    args = parser.parse_args()

    link_collection()
    os.makedirs(WORKDIR, exist_ok=True)
    recipe = ensure_image()
    names = host_names(args.hosts)
    inventory = write_inventory(names)
    try:
        log("starting %d fresh hosts" % len(names))
        start_fleet(names)
        log("deploy.yml, first run")
        deploy_first, _out = playbook("deploy.yml", inventory, names, expect_changed=TASKS)
        digests = fetch_expected(names[0])
        check_files(names, digests)

        log("recreating the hosts for copy.yml's first run")
        start_fleet(names)
        log("copy.yml, first run")
        copy_first, _out = playbook("copy.yml", inventory, names, expect_changed=TASKS)
        check_files(names, digests)
        log("deploy.yml on the hosts copy.yml wrote: must change nothing (the files are identical)")
        playbook("deploy.yml", inventory, names, expect_changed=0)
        playbook("copy.yml", inventory, names, expect_changed=0)  # warm-up of the baseline, not timed

        samples = {"deploy": [], "copy": []}
        for index in range(args.rounds):
            order = ("deploy", "copy") if index % 2 == 0 else ("copy", "deploy")
            for which in order:
                seconds, _out = playbook(which + ".yml", inventory, names, expect_changed=0)
                samples[which].append(seconds)
            log("round %d: deploy %.2fs, copy %.2fs" % (index + 1, samples["deploy"][-1], samples["copy"][-1]))

        log("per-task breakdown of one re-run of each (profile_tasks)")
        per_task = {}
        for which in ("deploy", "copy"):
            _seconds, out = playbook(which + ".yml", inventory, names, expect_changed=0,
                                     callbacks="ansible.posix.profile_tasks")
            per_task[which] = task_times(out)
        costs = target_costs(names[0], 9)
    finally:
        if not args.keep:
            log("removing the hosts")
            remove_fleet(names)

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
        "first_run_seconds": {"deploy": round(deploy_first, 2), "copy": round(copy_first, 2),
                              "ratio": round(deploy_first / copy_first, 3)},
        "rerun_rounds": args.rounds,
        "rerun_seconds_samples": {key: rounded(values) for key, values in samples.items()},
        "rerun_seconds_median": {"deploy": round(deploy_rerun, 2), "copy": round(copy_rerun, 2)},
        "rerun_ratio": round(ratio, 3),
        "rerun_ratio_limit": LIMIT,
        "rerun_ratio_pass": ratio <= LIMIT,
        "rerun_changed": 0,
        "rerun_per_task_seconds": per_task,
        "target_seconds_one_host": costs,
        "files": digests,
        "load_avg": [round(value, 2) for value in os.getloadavg()],
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0 if results["rerun_ratio_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
