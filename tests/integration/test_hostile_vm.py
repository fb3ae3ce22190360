"""A hostile container in a real trial, in the AppArmor lab VM (auditd running): the runbook must not be steerable
by the container it profiles.

Two containers run tests/integration/hostile/hostile.py, a records service that, while its profile is in complain
mode, writes fresh random names under /etc and /dev, copies a binary into /usr/bin and /tmp and runs the copies,
and sends forged AppArmor and seccomp records through the audit netlink socket, naming its own profile and a path
the guard would admit if the records were believed. ``hostile`` runs as the runbook runs containers (CAP_AUDIT_WRITE
dropped); ``hostile-aw`` keeps CAP_AUDIT_WRITE (``run.capabilities``), so its forgeries reach the audit log.

It runs in the Debian 13 VM only: the guard and the collector are the same Python on both stacks, the kernel records
they read are proven on both by test_events_vm, and the trial takes about ten minutes under TCG. ``harden.yml`` runs
the whole trial (complain, collect, widen, rounds) with ``confine_force_enforce`` (the trial is not clean: it holds
refused items) and no seed profiles. Then:

- the review reports list every hostile access as refused with its reason, and the forgeries as suspicious;
- no rule of the enforced profiles covers them, and the forged path appears nowhere;
- under enforcement the attacks fail and are logged as DENIED, while the legitimate workload passes;
- under Docker's docker-default the same attacks succeed (what the profiles add).
"""

from __future__ import annotations

import json
import os
import shlex

import pytest
from conftest import AUDITD_READY, ROOT, ansible_playbook, one_stack, run_module, vm_ssh

from ansible_collections.confine.docker.plugins.module_utils._events import Collector, split_record

pytestmark = pytest.mark.vm

HOST = "confine-vm-1"
STATE = "/var/lib/confine-it-hostile"
SCRIPT_DIR = "/opt/confine-it-hostile"
NAMES = ("hostile", "hostile-aw")
PROGRAM = os.path.join(ROOT, "tests", "integration", "hostile", "hostile.py")
ATTACKS = ("write_etc", "write_etc_again", "write_dev", "copy_usr_bin", "copy_tmp", "run_tmp")
FORGERIES = ("forge_user_avc", "forge_unknown_type", "forge_seccomp", "forge_line_break")
FORGED_PATH = "/srv/forged-by-the-container"


def entry(name, keep_audit_write):
    run = {"command": ["python3", "/opt/hostile/hostile.py", "serve"],
           "volumes": ["%s:/opt/hostile:ro" % SCRIPT_DIR]}
    if keep_audit_write:
        run["capabilities"] = ["AUDIT_WRITE"]
    return {"name": name, "image": "confine-lab/base:bookworm", "run": run,
            "workload": {"commands": [["python3", "/opt/hostile/hostile.py", "work"]], "min_observe": 3}}


CONTAINERS = [entry("hostile", False), entry("hostile-aw", True)]


def ssh(inventory, command, check=True):
    return vm_ssh(inventory, command, host=HOST, check=check)


def exec_json(inventory, name, *argv):
    proc = ssh(inventory, shlex.join(("docker", "exec", name, *argv)), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cleanup(inventory):
    ssh(inventory, "docker rm -f %s >/dev/null 2>&1; rm -rf %s %s; true" % (" ".join(NAMES), STATE, SCRIPT_DIR),
        check=False)
    for name in NAMES:
        run_module("confine.docker.apparmor_profile", {"name": "confine-" + name, "state": "absent"},
                   inventory=inventory, host=HOST)
        ssh(inventory, "rm -f /etc/docker/seccomp/confine-%s.json" % name, check=False)


@pytest.fixture(scope="module")
def hardened(lab_suite, lab_inventory, tmp_path_factory):
    one_stack(lab_suite, "trixie", "the guard and the collector are the same code on both stacks")
    inventory = lab_inventory
    cleanup(inventory)
    ssh(inventory, AUDITD_READY)
    ssh(inventory, "mkdir -p %s" % SCRIPT_DIR)
    with open(PROGRAM, encoding="utf-8") as handle:
        run_module("ansible.builtin.copy", {"content": handle.read(), "dest": SCRIPT_DIR + "/hostile.py",
                                            "mode": "0755"}, inventory=inventory, host=HOST)
    workdir = tmp_path_factory.mktemp("hostile")
    varfile = workdir / "vars.json"
    varfile.write_text(json.dumps({
        "confine_containers": CONTAINERS,
        "confine_state_dir": STATE,
        "confine_daemon": False,
        "confine_force_enforce": True,
        "confine_rollback_on_failure": False,
        "confine_max_rounds": 1,
        "confine_event_source": "audit",
    }))
    proc = ansible_playbook("-i", inventory, "-e", "@%s" % varfile, os.path.join(ROOT, "harden.yml"), check=False,
                            timeout=1800)
    since = ssh(inventory, "date +%s").stdout.strip()
    yield inventory, proc, since
    cleanup(inventory)


def read(inventory, path):
    return ssh(inventory, "cat %s" % path).stdout


def state(inventory, name):
    return json.loads(read(inventory, "%s/%s/state.json" % (STATE, name)))


def denied_since(inventory, profile, since):
    """The kernel's DENIED records of ``profile`` in auditd's log since the epoch second ``since``."""
    collector = Collector(profiles=[profile])
    for line in read(inventory, "/var/log/audit/audit.log").splitlines():
        record = split_record(line, ("audit",))
        if record is not None and record[1] >= int(since):
            collector.feed_line(line)
    return [event for event in collector.result()["apparmor"] if event["mode"] == "DENIED"]


def test_runbook_enforces_without_admitting_the_attacks(hardened):
    inventory, proc, _since = hardened
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    for name in NAMES:
        current = state(inventory, name)
        assert current["mode"] == "enforce", current
        spec = read(inventory, "%s/%s/apparmor.v%d.json" % (STATE, name, current["version"]))
        rules = json.loads(spec)
        paths = [rule["path"] for rule in rules["filesystem"]["files"]] + rules["filesystem"]["allow_exec"]
        # The legitimate workload was learned...
        assert any(path.startswith("/var/lib/hostile-app/records/") for path in paths), paths
        # ...and nothing hostile: no rule under /etc, /dev, /usr/bin for write, no exec from /tmp, no forged path.
        for path in paths:
            assert not path.startswith(("/etc/", "/dev/", "/usr/bin/")) or path in rules["filesystem"]["allow_exec"], \
                path
            assert not (path.startswith("/tmp/") and path in rules["filesystem"]["allow_exec"]), path
        assert "forged" not in spec
        seccomp = json.loads(read(inventory, "%s/%s/seccomp.v%d.json" % (STATE, name, current["version"])))
        unconditional = {syscall for rule in seccomp["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
                         and not rule.get("includes") and not rule.get("args") for syscall in rule["names"]}
        assert "mount" not in unconditional  # the forged seccomp record was not believed
        # The trial was not clean: the refusals are on record.
        assert current["refused"], current


def test_review_lists_each_hostile_access_with_its_reason(hardened):
    inventory, _proc, _since = hardened
    for name in NAMES:
        report = read(inventory, "%s/%s/report.v1.md" % (STATE, name))
        refused = report.split("## Refused", 1)[1]
        assert refused.count("system configuration under /etc") >= 2, report
        assert "device nodes" in refused, report
        assert "system binaries and libraries" in refused, report
        assert "world-writable directory" in refused or "write xor execute" in refused, report
        assert "generalisation to /etc/* withheld" in report, report
        assert "forged" not in report.split("## Suspicious records", 1)[0] if "## Suspicious" in report else \
            "forged" not in report
    with_forgeries = read(inventory, "%s/hostile-aw/report.v1.md" % STATE)
    assert "## Suspicious records (never events)" in with_forgeries
    assert "confine-hostile-aw" in with_forgeries.split("## Suspicious records", 1)[1]
    without = read(inventory, "%s/hostile/report.v1.md" % STATE)
    assert "## Suspicious records" not in without  # its forgeries were refused by the kernel (no CAP_AUDIT_WRITE)
    events = json.loads(read(inventory, "%s/hostile-aw/events.v1.json" % STATE))
    assert sum(entry["count"] for entry in events["suspicious"]) >= len(FORGERIES) - 1
    assert not any(FORGED_PATH in json.dumps(event) for event in events["apparmor"])


def test_attacks_fail_under_enforcement_and_the_workload_passes(hardened):
    inventory, _proc, since = hardened
    for name in NAMES:
        assert exec_json(inventory, name, "python3", "/opt/hostile/hostile.py", "work")["records"] >= 1
        results = exec_json(inventory, name, "python3", "/opt/hostile/hostile.py", "attack")
        for attack in ("write_etc", "write_etc_again", "write_dev", "copy_usr_bin", "run_tmp"):
            assert results[attack] in ("EACCES", "EPERM"), (name, attack, results)
        # Without CAP_AUDIT_WRITE the kernel refuses the forgeries; hostile-aw keeps it, and what it sends is never
        # an event (the reports above).
        for forgery in FORGERIES:
            assert results[forgery] == ("EPERM" if name == "hostile" else "ok"), (name, forgery, results)
        denied = denied_since(inventory, "confine-" + name, since)
        # Creating a file is "mknod" to AppArmor; running the copy in /tmp is "exec".
        assert {"mknod", "exec"} <= {record["operation"] for record in denied}, (name, denied)
        assert any((record["name"] or "").startswith("/etc/") for record in denied), denied
        assert any((record["name"] or "").startswith("/dev/") for record in denied), denied
        assert any((record["name"] or "").startswith("/usr/bin/") for record in denied), denied


def test_the_same_attacks_succeed_under_docker_default(hardened):
    inventory, _proc, _since = hardened
    proc = ssh(inventory, "docker run --rm -v %s:/opt/hostile:ro confine-lab/base:bookworm "
                          "python3 /opt/hostile/hostile.py attack" % SCRIPT_DIR)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for attack in (*ATTACKS, "run_usr_bin"):
        assert results[attack] == "ok", (attack, results)
    assert all(results[forgery] == "ok" for forgery in FORGERIES), results
