"""dockerd going away during a run (#14), on a private dockerd (tests/integration/isolated_dockerd.py): dockerd is
stopped while the runbook tries a container; the host fails with a message saying dockerd does not answer and that
nothing was rolled back, the container is back under its trial's options when dockerd returns, the next run
converges (enforced) and a third changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from conftest import ROOT, ansible_env, ansible_playbook, start_playbook
from isolated_dockerd import Handle

# In the host tier (the Debian 12 lane of make test), beside the other private dockerd's tests: it kills nothing.
pytestmark = pytest.mark.slow

BASE, RUN = "/var/lib/confine-it-goaway", "/run/confine-it-goaway"
IMAGE = "confine-lab/base:bookworm"
NAME = "confine-it-goaway"
DAEMON = Handle(BASE, RUN, timeout=60)
launcher, docker, HOST = DAEMON.launcher, DAEMON.docker, DAEMON.host


@pytest.fixture()
def private_dockerd(docker_cli):
    launcher("purge", check=False)
    launcher("start")
    try:
        saved = subprocess.Popen([docker_cli, "save", IMAGE], stdout=subprocess.PIPE)
        loaded = subprocess.run([docker_cli, "-H", HOST, "load"], stdin=saved.stdout, capture_output=True, check=False)
        saved.stdout.close()
        assert saved.wait() == 0 and loaded.returncode == 0, loaded.stderr
        yield HOST
    finally:
        launcher("purge", check=False)


def test_dockerd_stopped_during_the_trial_fails_the_host_without_rollback_and_the_next_run_converges(
        private_dockerd):
    workdir = tempfile.mkdtemp(prefix="confine-it-goaway-")
    variables = {
        "confine_apparmor": False, "confine_daemon": False, "confine_min_observe": 20,
        "confine_seccomp_dir": os.path.join(workdir, "seccomp"), "confine_state_dir": os.path.join(workdir, "state"),
        "confine_lock_path": os.path.join(workdir, "lock"), "ansible_python_interpreter": sys.executable,
        "confine_containers": [{"name": NAME, "image": IMAGE,
                                "run": {"command": ["sleep", "infinity"], "restart_policy": "unless-stopped"},
                                "workload": {"commands": [["ls", "/"]]}}],
    }
    varfile = os.path.join(workdir, "vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    args = ("-i", "localhost,", "-c", "local", "-e", "@" + varfile, os.path.join(ROOT, "harden.yml"))
    env = dict(ansible_env(), DOCKER_HOST=HOST)
    run = start_playbook(*args, env=env)
    lines = []
    for line in run.stdout:
        lines.append(line)
        # The trial runs: the container is up under its trial's profiles and collect observes it.
        if line.startswith("TASK [confine.docker.collect : "):
            launcher("stop")
            break
    lines.extend(run.stdout)
    assert run.wait(timeout=600) != 0
    output = "".join(lines)
    assert "dockerd does not answer" in output and "nothing was rolled back" in output, output
    assert "TASK [confine.docker.rollback" not in output, output
    launcher("start")
    info = json.loads(docker("inspect", NAME).stdout)[0]
    # The container keeps the confinement it last had: its trial's seccomp profile (log mode).
    assert any(opt.startswith("seccomp=") and "SCMP_ACT_LOG" in opt for opt in info["HostConfig"]["SecurityOpt"])
    again = ansible_playbook(*args, env=env, check=False)
    assert again.returncode == 0, again.stdout
    with open(os.path.join(workdir, "state", NAME, "state.json"), encoding="utf-8") as handle:
        assert json.load(handle)["mode"] == "enforce"
    info = json.loads(docker("inspect", NAME).stdout)[0]
    assert info["State"]["Running"]
    assert any(opt.startswith("seccomp=") and "SCMP_ACT_ERRNO" in opt for opt in info["HostConfig"]["SecurityOpt"])
    third = ansible_playbook(*args, env=env, check=False)
    assert third.returncode == 0 and " changed=0 " in third.stdout, third.stdout
    subprocess.run(["rm", "-rf", workdir], check=False)
