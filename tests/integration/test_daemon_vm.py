"""confine.docker.daemon_config and the daemon role against the real dockerd of each lab stack.

Debian 12 runs Docker 20.10.24 (no ``dockerd --validate``), Debian 13 Docker 26.1.5 (``--validate``, the
``builtin`` seccomp profile, keys 20.10 does not know and without the ones 26 dropped). In the lab VM of each:

- which daemon.json keys the module says the engine takes is what that dockerd really takes (asked one file per key
  with tests/integration/probe/dockerd_config.py, Debian 13 only: Debian 12's dockerd is the host's, asked by
  test_daemon_module.py);
- on Debian 13 the module runs ``dockerd --validate`` (in check mode too) and a setting only dockerd refuses fails the
  task with dockerd's own words, nothing written;
- the daemon role restarts dockerd on the hardened defaults and checks ``docker info`` (the seccomp default is
  ``profile=builtin`` on 26.1, ``profile=default`` on 20.10), a second run changes nothing, and a file dockerd does
  not start with is restored byte for byte while a running container keeps running (live-restore).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import ROOT, ansible_playbook, engine_disagreements, key_cases, run_module, vm_ssh

from ansible_collections.confine.docker.plugins.module_utils import _daemon

pytestmark = pytest.mark.vm

HOST = "confine-vm-1"
MODULE = "confine.docker.daemon_config"
IMAGE = "confine-lab/base:bookworm"
CONTAINER = "confine-it-daemon-vm"
PROBE = os.path.join(ROOT, "tests", "integration", "probe", "dockerd_config.py")
ENGINES = {"bookworm": (20, 10, 24), "trixie": (26, 1, 5)}


def ssh(inventory, command, **kwargs):
    return vm_ssh(inventory, command, **kwargs)


def daemon_json(inventory):
    return ssh(inventory, "cat /etc/docker/daemon.json 2>/dev/null || echo ABSENT").stdout


def docker_info(inventory):
    return json.loads(ssh(inventory, "docker info --format '{{json .}}'").stdout)


def role(inventory, tmp_path, extra=None):
    playbook = tmp_path / "daemon.yml"
    playbook.write_text(json.dumps([{"hosts": HOST, "gather_facts": False, "roles": ["confine.docker.daemon"]}]))
    variables = dict({"daemon_verify_image": IMAGE, "daemon_wait_retries": 45, "daemon_wait_delay": 2}, **(extra or {}))
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(variables))
    proc = ansible_playbook("-i", inventory, "-e", "@%s" % varfile, str(playbook), check=False)
    lines = [row for row in proc.stdout.splitlines() if row.startswith(HOST + " ") and "ok=" in row]
    recap = dict(field.split("=") for field in lines[-1].split(":", 1)[1].split()) if lines else {}
    return proc, recap


@pytest.fixture
def vm(lab_inventory):
    """The VM with its daemon.json as it was put back at the end (and dockerd restarted on it when it changed)."""
    original = daemon_json(lab_inventory)
    try:
        yield lab_inventory
    finally:
        ssh(lab_inventory, "docker rm -f %s >/dev/null 2>&1; true" % CONTAINER, check=False)
        if daemon_json(lab_inventory) != original:
            restore = ("rm -f /etc/docker/daemon.json" if original == "ABSENT\n" else
                       "cat > /etc/docker/daemon.json <<'CONFINE_EOF'\n%sCONFINE_EOF" % original)
            ssh(lab_inventory, restore + "; systemctl reset-failed docker; systemctl restart docker", check=False)
        ssh(lab_inventory, "rm -f /etc/docker/daemon.json.*~", check=False)


def test_engine_version_is_the_suites(vm, lab_suite):
    version = _daemon.parse_dockerd_version(ssh(vm, "dockerd --version").stdout)
    assert version == ENGINES[lab_suite]


def test_module_knows_which_keys_the_engine_takes(vm, lab_suite):
    if lab_suite == "bookworm":
        pytest.skip("Debian 12's dockerd is the host's 20.10.24, asked by test_daemon_module.py")
    keys, cases = key_cases()
    with open(PROBE, encoding="utf-8") as handle:
        ssh(vm, "cat > /tmp/confine-dockerd-probe.py <<'CONFINE_EOF'\n%s\nCONFINE_EOF" % handle.read())
    proc = ssh(vm, "python3 /tmp/confine-dockerd-probe.py <<'CONFINE_EOF'\n%s\nCONFINE_EOF" % json.dumps(cases),
               timeout=900)
    answer = json.loads(proc.stdout)
    assert answer["validate"] is True, answer["version"]
    version = _daemon.parse_dockerd_version(answer["version"])
    assert engine_disagreements(version, keys, answer["verdicts"]) == []
    # What this engine no longer knows, measured.
    unknown = sorted(key for key, verdict in zip(keys, answer["verdicts"]) if verdict["verdict"] == "unknown")
    assert unknown == ["cluster-advertise", "cluster-store", "cluster-store-opts", "oom-score-adjust"]


def test_dockerd_validate_is_the_real_one(vm, lab_suite, tmp_path):
    path = "/tmp/confine-it-daemon-vm.json"
    ssh(vm, "echo '{\"debug\": false}' > %s" % path)
    ok = run_module(MODULE, {"path": path, "settings": {"icc": False}}, check_mode=True, inventory=vm, host=HOST)
    assert not ok.get("failed"), ok
    assert ok["engine"] == ".".join(map(str, ENGINES[lab_suite]))
    if lab_suite == "bookworm":
        assert ok["validated_by"] == "module"
        return
    assert ok["validated_by"] == "module+dockerd"
    # cgroup v2 (Debian 13's only hierarchy): dockerd refuses daemon-wide real-time CPU settings; only dockerd knows.
    for check_mode in (True, False):
        refused = run_module(MODULE, {"path": path, "settings": {"cpu-rt-period": 1000}}, check_mode=check_mode,
                             inventory=vm, host=HOST)
        assert refused.get("failed"), refused
        assert "dockerd --validate refused the configuration" in refused["msg"]
        assert "not implemented for cgroup v2" in refused["msg"]
        assert ssh(vm, "cat %s" % path).stdout == '{"debug": false}\n'
    # The module's own table, before dockerd is asked.
    removed = run_module(MODULE, {"path": path, "settings": {"oom-score-adjust": -500}}, inventory=vm, host=HOST)
    assert removed.get("failed") and "'oom-score-adjust' was removed in Docker 25.0" in removed["msg"], removed


def test_role_restarts_on_the_defaults_and_restores_a_file_dockerd_refuses(vm, lab_suite, tmp_path):
    proc, recap = role(vm, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert int(recap["changed"]) >= 2, recap  # the write and the restart
    info = docker_info(vm)
    assert info["LiveRestoreEnabled"] is True
    seccomp = [opt for opt in info["SecurityOptions"] if opt.startswith("name=seccomp")]
    assert seccomp == ["name=seccomp,profile=%s" % ("builtin" if lab_suite == "trixie" else "default")]
    hardened = json.loads(daemon_json(vm))
    assert hardened["no-new-privileges"] is True and hardened["icc"] is False

    again, recap = role(vm, tmp_path)
    assert again.returncode == 0 and recap["changed"] == "0", again.stdout[-3000:]

    previous = daemon_json(vm)
    ssh(vm, "docker run -d --name %s --network none %s sleep infinity" % (CONTAINER, IMAGE))
    started = ssh(vm, "docker inspect -f '{{.State.StartedAt}}' %s" % CONTAINER).stdout.strip()
    # Passes the module and dockerd --validate (26.1 does not check log options there), but dockerd does not start:
    # json-file has no option max-sise.
    bad, recap = role(vm, tmp_path, {"daemon_extra_settings": {"log-opts": {"max-sise": "20m"}}})
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0 and recap["failed"] == "1" and recap["rescued"] == "1", output[-3000:]
    assert "Unable to restart service docker" in output, output[-3000:]
    # What dockerd said about it, in its journal.
    assert "max-sise" in ssh(vm, "journalctl -u docker --no-pager -o cat | grep max-sise | tail -n 1").stdout
    assert "the previous file was put back from /etc/docker/daemon.json." in output
    assert "dockerd runs again (restart" in output
    assert daemon_json(vm) == previous
    state = json.loads(ssh(vm, "docker inspect -f '{{json .State}}' %s" % CONTAINER).stdout)
    assert state["Running"] is True and state["StartedAt"] == started  # live-restore kept it running
