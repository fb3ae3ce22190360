"""The corpus in the AppArmor lab VM: six real server programs nobody tuned for, confined by the runbook from nothing.

confine-lab/corpus:bookworm (lab/images/build-corpus, docs/corpus.md) holds PostgreSQL 15 (started through runuser,
pgbench and a sort that spills to temporary files), Redis (redis-benchmark, BGSAVE), nginx (static files and a
reverse-proxied upstream, per-tenant access logs), a Python web app writing notes and an SQLite index, OpenSSH
(an SFTP-only user logging in by key) and rsyslog (a TCP log receiver writing one file per host and program).
inventories/corpus gives each its container entry: the image, the command, the workload and the health check -
no seed profile, no approvals.

One ``harden.yml`` run takes all six through complain, collect, widen (rounds), enforce and verify, with auditd
running. The six entries run side by side: the test gives each its own inventory host, all of them aliases of the one
lab VM, so that Ansible runs their trials in parallel (forks) instead of one container after the other; the state,
the log and the kernel are the VM's, shared as on a host that runs six containers. For each container the test then
asserts:

- the trial converged within ``confine_max_rounds`` and the container is enforced (state.json: mode enforce, clean,
  no blockers);
- verify passed under the enforced profiles: the kernel's view, the workload and the health check;
- a second run changes nothing (``changed=0``);
- the review reports list what was learned, and nothing the guard refused was needed (no blockers, verify passed);
- the service's attack fails under enforcement and is logged (a DENIED record of the path it touches), while the
  same attack succeeds in a throwaway container of the same image under Docker's docker-default;
- ``docker restart``, ``docker stop`` and ``docker kill`` work as under Docker's defaults, and the profile denies
  nothing on the way.

The table of the results (service, rounds, rules added and refused, enforce, attack, trial duration) is printed at
the end of the module; docs/corpus.md keeps the measured one.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import time

import pytest
import yaml
from conftest import AUDITD_READY, DOCKER, ROOT, ansible_env, ansible_playbook, vm_ssh

from ansible_collections.confine.docker.plugins.module_utils._events import Collector, split_record

pytestmark = [pytest.mark.vm, pytest.mark.corpus]

HOST = "confine-vm-1"
IMAGE = "confine-lab/corpus:bookworm"
HASH_LABEL = "confine.lab.hash"
CORPUS_INVENTORY = os.path.join(ROOT, "inventories", "corpus")
with open(os.path.join(CORPUS_INVENTORY, "group_vars", "confine_lab.yml"), encoding="utf-8") as _handle:
    CORPUS = yaml.safe_load(_handle)
CONTAINERS = CORPUS["confine_containers"]
NAMES = [entry["name"] for entry in CONTAINERS]
STATE = CORPUS["confine_state_dir"]
MAX_ROUNDS = 3
# docker stop's timeout in the lifecycle check: long, so that a SIGTERM the profile refused shows as the kill after
# it (exit code 137, the whole timeout) rather than as a slow stop of six containers at once in a TCG VM.
STOP_TIMEOUT = 60
# Attacks made by a client of the service from elsewhere on the network: the client runs in a container of its own
# (docker-default) that shares the target's network namespace. Run inside the confined container, the client itself
# would be held by the profile under test (the SFTP client cannot write its own temporary file there) and the attack
# would never reach the server.
ATTACK_FROM_PEER = {"sshd"}
# The run is judged container by container: a failing one must leave its state for review, not roll the host back.
# Every alias in one batch (no canary); with six containers in their trials on the VM, no record is attributed by the
# trial's time window alone, as on a host that runs them all.
# Every round after the first runs in a new container (the complain stage's default), so the trial sees how the
# previous one shut down - what `docker stop` will ask of the enforced profile (PostgreSQL's shutdown checkpoint and
# statistics file, runuser forwarding SIGTERM to the server, a process of another user).
EXTRA = {"confine_rollback_on_failure": False, "confine_max_rounds": MAX_ROUNDS, "confine_serial": ["100%"],
         "collect_trial_window": False}

# Ansible's free strategy: each alias goes through its stages at its own pace. Under the default linear strategy the
# hosts wait for each other at every task, and a task file included with a different container per host runs for one
# host after the other - six trials in a row instead of side by side.
FREE = dict(ansible_env(), ANSIBLE_STRATEGY="free")


def service(entry):
    return entry["run"]["command"][0]


def ssh(inventory, command, check=True, timeout=600):
    return vm_ssh(inventory, command, host=HOST, check=check, timeout=timeout)


def vm_python(inventory, source, timeout=600):
    """Run a Python program in the VM and return what it printed as JSON (its last line)."""
    encoded = base64.b64encode(source.encode()).decode()
    proc = ssh(inventory, "echo %s | base64 -d | python3 -" % encoded, timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def attack_command(container, svc):
    """The command line that makes ``svc``'s attack on ``container``, in the VM."""
    if svc in ATTACK_FROM_PEER:
        return ("docker", "run", "--rm", "--network", "container:" + container, "--entrypoint",
                "/usr/local/bin/corpus-attack", IMAGE, svc)
    return ("docker", "exec", container, "corpus-attack", svc)


def vm_clock(inventory):
    return float(ssh(inventory, "date +%s.%N").stdout.strip())


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {"outcome": "no JSON", "detail": text[-500:]}


def image_hash_on_host():
    proc = subprocess.run([DOCKER, "image", "inspect", "-f", "{{ index .Config.Labels \"%s\" }}" % HASH_LABEL, IMAGE],
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def corpus_vm(lab_inventory):
    """The lab VM with the corpus image: built on the host (cached), loaded into the VM unless it has that hash."""
    build = subprocess.run([os.path.join(ROOT, "lab", "images", "build-corpus")], capture_output=True, text=True,
                           check=False, timeout=1800)
    assert build.returncode == 0, build.stdout + build.stderr
    want = image_hash_on_host()
    have = ssh(lab_inventory, "docker image inspect -f '{{ index .Config.Labels \"%s\" }}' %s" % (HASH_LABEL, IMAGE),
               check=False).stdout.strip()
    if have != want:
        env = dict(os.environ, CONFINE_LAB_STATE=os.path.dirname(os.path.abspath(lab_inventory)))
        save = subprocess.Popen([DOCKER, "save", IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run([os.path.join(ROOT, "lab", "vm", "ssh"), HOST, "--", "docker", "load"],
                              stdin=save.stdout, env=env, capture_output=True, text=True, check=False, timeout=1200)
        save.stdout.close()
        assert save.wait() == 0 and load.returncode == 0, load.stdout + load.stderr
    return lab_inventory


def alias_inventory(lab_inventory, path):
    """An inventory with one host per corpus container, each an alias of the lab VM (same address, port and key),
    in the group inventories/corpus gives its variables to; the host's ``confine_containers`` is its one entry."""
    with open(lab_inventory, encoding="utf-8") as handle:
        lab = yaml.safe_load(handle)
    group = lab["all"]["children"]["confine_lab"]
    vm = group["hosts"][HOST]
    hosts = {entry["name"]: dict(vm, confine_containers=[entry]) for entry in CONTAINERS}
    path.write_text(yaml.safe_dump({"all": {"children": {"confine_lab": {"vars": group.get("vars") or {},
                                                                         "hosts": hosts}}}}))
    return str(path)


def cleanup(inventory):
    names = " ".join(NAMES + ["%s-default" % name for name in NAMES])
    profiles = " ".join("/etc/apparmor.d/containers/confine-%s" % name for name in NAMES)
    seccomp = " ".join("/etc/docker/seccomp/confine-%s.json" % name for name in NAMES)
    ssh(inventory, "docker rm -f %s >/dev/null 2>&1; for p in %s; do [ ! -e $p ] || apparmor_parser -R $p; done; "
                   "rm -rf %s %s %s; true" % (names, profiles, profiles, seccomp, STATE), check=False)


GATHER = """
import glob, json, os, re
out = {}
for name in %(names)r:
    base = os.path.join(%(state)r, name)
    entry = {"reports": {}, "events": {}}
    try:
        with open(os.path.join(base, "state.json")) as handle:
            entry["state"] = json.load(handle)
    except OSError:
        entry["state"] = {}
    for path in glob.glob(os.path.join(base, "report.v*.md")):
        with open(path) as handle:
            entry["reports"][re.search(r"v([0-9]+)", os.path.basename(path)).group(1)] = handle.read()
    for path in glob.glob(os.path.join(base, "events.v*.json")):
        with open(path) as handle:
            entry["events"][re.search(r"v([0-9]+)", os.path.basename(path)).group(1)] = json.load(handle)
    out[name] = entry
print(json.dumps(out))
"""

# docker restart, stop and kill of each container (side by side), as a user would run them.
LIFECYCLE = """
import json, subprocess, threading, time
services = %(services)r
timeout = %(timeout)d
out = {}

def docker(*argv):
    start = time.monotonic()
    proc = subprocess.run(["docker", *argv], capture_output=True, text=True)
    return proc, round(time.monotonic() - start, 1)

def state(name):
    proc, _ = docker("inspect", "-f", "{{json .State}}", name)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}

def healthy(name, svc, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if docker("exec", name, "corpus-health", svc)[0].returncode == 0:
            return True
        time.sleep(1)
    return False

def cycle(name, svc):
    result = {}
    proc, seconds = docker("restart", "-t", str(timeout), name)
    result["restart"] = {"rc": proc.returncode, "seconds": seconds, "healthy": healthy(name, svc, 120)}
    proc, seconds = docker("stop", "-t", str(timeout), name)
    result["stop"] = {"rc": proc.returncode, "seconds": seconds, "state": state(name)}
    docker("start", name)
    up = healthy(name, svc, 120)
    proc, seconds = docker("kill", name)
    time.sleep(1)
    result["kill"] = {"rc": proc.returncode, "seconds": seconds, "healthy_before": up, "state": state(name)}
    out[name] = result

threads = [threading.Thread(target=cycle, args=item) for item in services.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(out))
"""

DEFAULT_ATTACKS = """
import json, subprocess, threading, time
services = %(services)r
out = {}
for name, svc in services.items():
    subprocess.run(["docker", "run", "-d", "--name", name + "-default", %(image)r, svc], check=True,
                   capture_output=True)

def attack(name, svc):
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if subprocess.run(["docker", "exec", name + "-default", "corpus-health", svc],
                          capture_output=True).returncode == 0:
            break
        time.sleep(1)
    proc = subprocess.run(%(commands)r[name], capture_output=True, text=True)
    profile = subprocess.run(["docker", "inspect", "-f", "{{.AppArmorProfile}}", name + "-default"],
                             capture_output=True, text=True).stdout.strip()
    out[name] = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-2000:], "profile": profile}

threads = [threading.Thread(target=attack, args=item) for item in services.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
subprocess.run(["docker", "rm", "-f"] + [name + "-default" for name in services], capture_output=True)
print(json.dumps(out))
"""


def recaps(output):
    """``{host: (changed, failed)}`` from the play recap."""
    found = {}
    for match in re.finditer(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M):
        found[match.group(1)] = (int(match.group(2)), int(match.group(4)))
    return found


def denied_since(audit_log, profile, since):
    """The kernel's DENIED records of ``profile`` in auditd's log since the epoch second ``since``."""
    collector = Collector(profiles=[profile])
    for line in audit_log.splitlines():
        record = split_record(line, ("audit",))
        if record is not None and record[1] >= int(since):
            collector.feed_line(line)
    return [event for event in collector.result()["apparmor"] if event["mode"] == "DENIED"]


def report_counts(reports):
    """Rules added over every round's review (each report has an AppArmor and a seccomp section)."""
    added = 0
    for text in reports.values():
        for match in re.finditer(r"^Added: (\d+)\. Refused: (\d+)", text, re.M):
            added += int(match.group(1))
    return added


@pytest.fixture(scope="module")
def corpus(corpus_vm, lab_suite, tmp_path_factory, request):
    """Harden the six corpus containers in one run, re-run, attack, restart, stop and kill; everything the tests
    judge, by container."""
    inventory = corpus_vm
    cleanup(inventory)
    ssh(inventory, AUDITD_READY)
    workdir = tmp_path_factory.mktemp("corpus-%s" % lab_suite)
    aliases = alias_inventory(inventory, workdir / "inventory.yml")
    varfile = workdir / "vars.json"
    runs = {}
    for run in ("first", "second"):
        # The second run writes no report on the controller (that file is the run's own output, reported changed):
        # its verify fails the host when a check fails, and its recap must show no change.
        varfile.write_text(json.dumps(dict(EXTRA, verify_report_dir=str(workdir / run)) if run == "first" else EXTRA))
        (workdir / run).mkdir()
        started = vm_clock(inventory)
        t0 = time.monotonic()
        proc = ansible_playbook("-i", CORPUS_INVENTORY, "-i", aliases, "-e", "@%s" % varfile,
                                os.path.join(ROOT, "harden.yml"), check=False, timeout=3600, env=FREE)
        verify = {}
        for name in NAMES:  # each alias's report (verify_report_dir/<host>.json) has its one container's result
            report = workdir / run / ("%s.json" % name)
            host = json.loads(report.read_text()) if report.exists() else {"results": []}
            verify[name] = next((result for result in host["results"] if result["name"] == name), None)
        runs[run] = {"proc": proc, "seconds": round(time.monotonic() - t0, 1), "started": started, "verify": verify}
        (workdir / ("%s.log" % run)).write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            break
    gathered = vm_python(inventory, GATHER % {"names": NAMES, "state": STATE})

    # The attacks under enforcement, and what the kernel logged about them.
    attacks_since = vm_clock(inventory)
    enforced_attacks = {}
    for entry in CONTAINERS:
        proc = ssh(inventory, shlex.join(attack_command(entry["name"], service(entry))), check=False)
        enforced_attacks[entry["name"]] = dict(last_json(proc.stdout), rc=proc.returncode)
    services = {entry["name"]: service(entry) for entry in CONTAINERS}

    # docker restart, stop and kill under the enforced profiles.
    lifecycle_since = vm_clock(inventory)
    lifecycle = vm_python(inventory, LIFECYCLE % {"services": services, "timeout": STOP_TIMEOUT}, timeout=900)
    time.sleep(2)
    audit_log = ssh(inventory, "cat /var/log/audit/audit.log", timeout=600).stdout
    denied = {name: denied_since(audit_log, "confine-" + name, attacks_since) for name in NAMES}
    denied_lifecycle = {name: denied_since(audit_log, "confine-" + name, lifecycle_since) for name in NAMES}

    # The same attacks in throwaway containers under Docker's docker-default.
    commands = {name: list(attack_command(name + "-default", svc)) for name, svc in services.items()}
    default_raw = vm_python(inventory, DEFAULT_ATTACKS % {"services": services, "image": IMAGE, "commands": commands},
                            timeout=1200)
    default_attacks = {name: dict(last_json(raw["stdout"]), rc=raw["rc"], profile=raw["profile"],
                                  stderr=raw["stderr"]) for name, raw in default_raw.items()}

    results = {}
    for entry in CONTAINERS:
        name = entry["name"]
        data = gathered[name]
        state = data["state"]
        results[name] = {
            "service": service(entry), "state": state, "reports": data["reports"], "events": data["events"],
            "added": report_counts(data["reports"]), "refused": len(state.get("refused") or []),
            "verify": runs["first"]["verify"][name],
            "enforced_attack": enforced_attacks[name], "denied": denied[name],
            "default_attack": default_attacks[name], "lifecycle": lifecycle[name],
            "denied_lifecycle": denied_lifecycle[name],
            "trial_seconds": round(state["enforced_at"] - runs["first"]["started"], 1)
            if state.get("enforced_at") else None,
        }
    table = results_table(results, runs, lab_suite)
    (workdir / "table.md").write_text(table)
    kept = os.path.join(ROOT, ".lab", "corpus-%s.md" % lab_suite)  # outlives pytest's temporary directories
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    with open(kept, "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        request.addfinalizer(lambda: reporter.write_line("\n" + table))
    yield {"inventory": inventory, "runs": runs, "results": results, "table": table}
    cleanup(inventory)


def attack_refused(result):
    return result["enforced_attack"].get("outcome") not in ("ok", None) and any(
        (event.get("name") or "").startswith(result["enforced_attack"].get("target") or "\0")
        for event in result["denied"])


def results_table(results, runs, suite):
    lines = ["%s:" % suite, "",
             "| service | rounds | rules added | rules refused | enforced, verify passed | attack refused "
             "(docker-default: succeeds) | trial until enforced |",
             "|---|---|---|---|---|---|---|"]
    for result in results.values():
        state = result["state"]
        verify = result["verify"]
        enforced = "%s, %s" % (state.get("mode", "-"), "passed" if verify and verify["passed"] else "FAILED")
        attack = "%s (%s)" % ("yes: " + result["enforced_attack"].get("outcome", "?") if attack_refused(result)
                              else "NO: " + str(result["enforced_attack"].get("outcome")),
                              result["default_attack"].get("outcome"))
        lines.append("| %s | %s | %d | %d | %s | %s | %s |" % (
            result["service"], state.get("round", "-"), result["added"], result["refused"], enforced, attack,
            "%.0f s" % result["trial_seconds"] if result["trial_seconds"] is not None else "-"))
    lines.append("")
    durations = ["%s run %.0f s (rc %d)" % (run, data["seconds"], data["proc"].returncode)
                 for run, data in runs.items()]
    lines.append("harden.yml: " + ", ".join(durations))
    return "\n".join(lines)


def explain(result):
    """What a failure message shows: the state, the last review and the verify checks that failed."""
    state = result["state"]
    last = result["reports"].get(str(state.get("version", 1))) or ""
    failed = [check for check in (result["verify"] or {}).get("checks", []) if not check["passed"]]
    return "state: %s\nfailed checks: %s\nlast review:\n%s" % (
        json.dumps({key: state.get(key) for key in ("mode", "round", "version", "clean", "added", "blockers", "lost")}),
        json.dumps(failed)[:3000], last[:6000])


def test_one_harden_run_enforces_every_container(corpus):
    first = corpus["runs"]["first"]["proc"]
    assert first.returncode == 0, "%s\n%s\n%s" % (corpus["table"], first.stdout[-8000:], first.stderr[-3000:])


@pytest.mark.parametrize("name", NAMES)
def test_converged_within_the_rounds_and_enforced(corpus, name):
    result = corpus["results"][name]
    state = result["state"]
    assert state.get("mode") == "enforce", explain(result)
    assert state.get("clean") is True, explain(result)
    assert 1 <= state["round"] <= MAX_ROUNDS, explain(result)
    assert state.get("blockers") == [], explain(result)
    assert state.get("lost") == [], explain(result)


@pytest.mark.parametrize("name", NAMES)
def test_enforced_profiles_pass_the_workload_and_health(corpus, name):
    result = corpus["results"][name]
    verify = result["verify"]
    assert verify is not None, "verify did not run: %s" % explain(result)
    checks = {check["check"]: check for check in verify["checks"]}
    assert checks["apparmor_kernel"]["passed"] and "enforce" in str(checks["apparmor_kernel"]["actual"]), checks
    assert checks["workload[0]"]["passed"], checks["workload[0]"]
    assert checks["health"]["passed"], checks["health"]
    assert checks["denied"]["passed"], checks["denied"]
    assert verify["passed"], explain(result)


def test_a_second_run_changes_nothing(corpus):
    runs = corpus["runs"]
    assert "second" in runs, "the first run failed: %s" % corpus["table"]
    second = runs["second"]["proc"]
    found = recaps(second.stdout)
    assert sorted(found) == sorted(NAMES), second.stdout[-6000:]
    assert second.returncode == 0 and all(failed == 0 for _changed, failed in found.values()), second.stdout[-6000:]
    assert all(changed == 0 for changed, _failed in found.values()), (found, second.stdout[-6000:])


@pytest.mark.parametrize("name", NAMES)
def test_the_review_lists_what_was_learned_and_no_needed_refusal(corpus, name):
    result = corpus["results"][name]
    first = result["reports"].get("1", "")
    assert first, "no review of round 1: %s" % explain(result)
    apparmor_added = first.split("(apparmor)", 1)[-1].split("## Refused", 1)[0]
    assert "| Rule | Seen |" in apparmor_added and apparmor_added.count("\n| `") >= 1, first[:4000]
    assert result["added"] > 0
    # Whatever the guard refused, the baseline refuses too (no blockers) and the enforced workload passed without it.
    for item in result["state"].get("refused", []):
        assert item.get("baseline") == "blocks", (item, explain(result))
    assert result["verify"] and result["verify"]["passed"], explain(result)


@pytest.mark.parametrize("name", NAMES)
def test_the_attack_is_refused_under_enforcement_and_logged(corpus, name):
    result = corpus["results"][name]
    attack = result["enforced_attack"]
    assert attack.get("outcome") not in ("ok", None), attack
    target = attack["target"]
    assert any((event.get("name") or "").startswith(target) for event in result["denied"]), (attack, result["denied"])


@pytest.mark.parametrize("name", NAMES)
def test_the_same_attack_succeeds_under_docker_default(corpus, name):
    result = corpus["results"][name]
    attack = result["default_attack"]
    assert attack["profile"] == "docker-default", attack
    assert attack.get("outcome") == "ok", attack


@pytest.mark.parametrize("name", NAMES)
def test_docker_restart_stop_and_kill_work_under_enforcement(corpus, name):
    result = corpus["results"][name]
    cycle = result["lifecycle"]
    assert cycle["restart"]["rc"] == 0 and cycle["restart"]["healthy"], cycle
    stop = cycle["stop"]
    # Ended by its SIGTERM: killed after the timeout would be exit code 137 and take the whole timeout.
    assert stop["rc"] == 0 and stop["seconds"] < STOP_TIMEOUT - 5, cycle
    assert stop["state"]["Running"] is False and stop["state"]["ExitCode"] in (0, 143), cycle
    assert not stop["state"]["OOMKilled"], cycle
    kill = cycle["kill"]
    assert kill["healthy_before"] and kill["rc"] == 0, cycle
    assert kill["state"]["Running"] is False and kill["state"]["ExitCode"] == 137, cycle
    # Nothing of the way a container is started and stopped is denied (a shutdown that needs what the trial never saw
    # would show here).
    assert result["denied_lifecycle"] == [], result["denied_lifecycle"]
