"""Fixtures for integration tests: run real modules and playbooks against the real host.

``run_module`` runs one task through ``ansible-playbook`` (so argument parsing, check mode and diff mode are the
real ones) and returns the registered result as a dict.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

from ansible_collections.confine.docker.plugins.module_utils import _daemon as daemon_utils

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


def ansible_env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def ansible_playbook(*args, check=True, env=None, timeout=900):
    """Run ansible-playbook from the venv; return the CompletedProcess (stdout+stderr captured)."""
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "ansible-playbook %s failed (rc=%d)\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr)
        )
    return proc


def start_playbook(*args, env=None, **popen):
    """Start ansible-playbook from the venv in the background (output merged on ``stdout``); the caller waits."""
    return subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), *args], cwd=ROOT, env=env or ansible_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def run_module(module, args, check_mode=False, diff=False, inventory=None, host="localhost", extra_args=()):
    """Run ``module`` with ``args`` once on ``host`` and return its registered result (``failed`` included)."""
    workdir = tempfile.mkdtemp(prefix="confine-it-")
    out = os.path.join(workdir, "result.json")
    play = [
        {
            "hosts": host,
            "gather_facts": False,
            "tasks": [
                {"name": "module under test", module: args, "register": "r", "ignore_errors": True,
                 "check_mode": check_mode, "diff": diff},
                {"name": "save result", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": out},
                 "delegate_to": "localhost", "check_mode": False, "diff": False},
            ],
        }
    ]
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump(play, handle)
    inv = ["-i", inventory] if inventory else ["-i", "localhost,", "-c", "local"]
    try:
        proc = ansible_playbook(*inv, playbook, *extra_args, check=False)
        if not os.path.exists(out):
            raise AssertionError("no result from %s\n%s\n%s" % (module, proc.stdout, proc.stderr))
        with open(out, encoding="utf-8") as handle:
            return json.load(handle)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_cli():
    """Path to the docker CLI; skips nothing: integration tests need a real engine, so its absence fails."""
    proc = subprocess.run(
        [DOCKER, "info", "--format", "{{json .SecurityOptions}}"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, "no Docker engine answers (run lab/dockerd-ensure): %s" % proc.stderr
    return DOCKER


# The Debian stacks the VM tests run on (lab/vm/start --suite): Debian 12 (Docker 20.10, AppArmor 3.0) and Debian 13
# (Docker 26.1, AppArmor 4.1). $CONFINE_LAB_SUITES narrows them (a comma list).
LAB_SUITES = ("bookworm", "trixie")


def lab_suites():
    wanted = [s.strip() for s in os.environ.get("CONFINE_LAB_SUITES", ",".join(LAB_SUITES)).split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(LAB_SUITES))
    if unknown:
        raise pytest.UsageError("CONFINE_LAB_SUITES names unknown suites %s (known: %s)" % (unknown, LAB_SUITES))
    return wanted


def one_stack(lab_suite, runs_on, why):
    """Skip a VM case outside ``runs_on``: for a case whose subject is the same code on both stacks, one stack
    proves it, and every runbook run in a TCG VM costs minutes of make test. ``why`` says what makes it stack-free."""
    if lab_suite != runs_on:
        pytest.skip("runs in the %s VM only: %s" % (runs_on, why))


def inventory_suite(inventory, host="confine-vm-1"):
    """The suite ``lab/vm/start`` recorded for ``host`` in ``inventory`` (bookworm for inventories without it)."""
    with open(inventory, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    hosts = data["all"]["children"]["confine_lab"]["hosts"] or {}
    return (hosts.get(host) or {}).get("confine_lab_suite", "bookworm")


@pytest.fixture(scope="session", params=lab_suites())
def lab_suite(request):
    """The Debian suite of the lab VM a test runs on; VM tests run once per suite."""
    return request.param


@pytest.fixture(scope="session")
def lab_inventory(lab_suite):
    """Inventory of one running AppArmor lab VM of ``lab_suite`` (host ``confine-vm-1``).

    Uses ``$CONFINE_LAB_INVENTORY`` when it names an inventory of VMs that are already up (tests of the other suites
    are skipped); otherwise boots one VM with ``lab/vm/start --suite`` in ``.lab/tests-<suite>`` and stops it when
    the tests of that suite are done (pytest runs the tests of one suite, then the next).
    """
    given = os.environ.get("CONFINE_LAB_INVENTORY")
    if given:
        if inventory_suite(given) != lab_suite:
            pytest.skip("$CONFINE_LAB_INVENTORY is a %s VM, not %s" % (inventory_suite(given), lab_suite))
        yield given
        return
    env = dict(os.environ, CONFINE_LAB_STATE=os.path.join(ROOT, ".lab", "tests-%s" % lab_suite))
    start = subprocess.run(
        [os.path.join(ROOT, "lab", "vm", "start"), "-n", "1", "--suite", lab_suite],
        env=env, capture_output=True, text=True, check=False,
    )
    assert start.returncode == 0, "lab/vm/start failed:\n%s\n%s" % (start.stdout, start.stderr)
    inventory = os.path.join(env["CONFINE_LAB_STATE"], "inventory.yml")
    assert os.path.exists(inventory), start.stdout
    assert inventory_suite(inventory) == lab_suite, start.stderr
    try:
        yield inventory
    finally:
        subprocess.run([os.path.join(ROOT, "lab", "vm", "stop"), "--all"], env=env, capture_output=True, check=False)


# A shell command for a lab VM: start auditd and wait until it is registered with the kernel (auditctl -s shows its
# pid). `systemctl start` returns before that, and records logged in between go to the kernel log, not audit.log.
AUDITD_READY = (
    "systemctl start auditd && for i in $(seq 1 100); do auditctl -s | grep -q '^pid [1-9]' && exit 0; sleep 0.1; "
    "done; echo 'auditd did not register with the kernel' >&2; exit 1"
)


def vm_ssh(inventory, *command, host="confine-vm-1", check=True, timeout=300):
    """Run ``command`` in a lab VM over SSH, using the lab's own ``lab/vm/ssh`` (state dir next to ``inventory``)."""
    env = dict(os.environ, CONFINE_LAB_STATE=os.path.dirname(os.path.abspath(inventory)))
    proc = subprocess.run(
        [os.path.join(ROOT, "lab", "vm", "ssh"), host, "--", *command],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "%s failed in %s (rc=%d)\n%s\n%s" % (command, host, proc.returncode, proc.stdout, proc.stderr)
        )
    return proc


def _auditd_pid():
    proc = subprocess.run(["pgrep", "-x", "auditd"], capture_output=True, text=True, check=False)
    return proc.stdout.split()[0] if proc.returncode == 0 else None


@pytest.fixture()
def auditd():
    """auditd running for the test, as on a real host: seccomp SCMP_ACT_LOG records then reach its log in full
    instead of the rate-limited kernel log. One this fixture started is stopped again, and kernel auditing is left
    as it was. Tests of the two make-test lanes that need it take turns (a lock across processes), so that one's
    teardown never stops auditd under the other."""
    with _audit_turn():
        yield from _auditd_running()


AUDITD_TURN = "/run/confine-it-auditd.lock"


@contextlib.contextmanager
def _audit_turn():
    with open(AUDITD_TURN, "w", encoding="utf-8") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        yield


@pytest.fixture()
def audit_turn():
    """For a test that reads this host's kernel records wherever they go (auditd or the kernel log): no other test
    starts or stops auditd meanwhile."""
    with _audit_turn():
        yield


def _auditd_running():
    status = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=False)
    enabled = next((line.split()[1] for line in status.stdout.splitlines() if line.startswith("enabled ")), None)
    assert enabled is not None, "auditctl -s did not answer: %s" % status.stderr
    started = None
    if _auditd_pid() is None:
        os.makedirs("/var/log/audit", mode=0o700, exist_ok=True)
        subprocess.run(["auditd"], capture_output=True, check=True)
        for _attempt in range(50):
            started = _auditd_pid()
            if started:
                break
            time.sleep(0.1)
        assert started, "auditd did not start"
    subprocess.run(["auditctl", "-e", "1"], capture_output=True, check=True)
    yield
    if started:
        subprocess.run(["kill", started], check=False)
        for _attempt in range(50):
            if _auditd_pid() is None:
                break
            time.sleep(0.1)
    subprocess.run(["auditctl", "-e", enabled], capture_output=True, check=False)


@pytest.fixture(scope="module")
def local_interpreter():
    """Run modules on localhost with the system python3 (interpreter discovery may pick a pyenv shim)."""
    with pytest.MonkeyPatch.context() as patch:
        if "ANSIBLE_PYTHON_INTERPRETER" not in os.environ and os.path.exists("/usr/bin/python3"):
            patch.setenv("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        yield


# --- which daemon.json keys a real dockerd takes (tests/integration/probe/dockerd_config.py) -----------------

# Object-valued keys need a member: dockerd checks the members of most objects, not the object's own key.
OBJECT_SAMPLES = {
    "builder": {"gc": {"enabled": True}},
    "cluster-store-opts": {"kv.path": "/confine"},
    "default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "1400"}},
    "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}},
    "features": {"buildkit": True},
    "log-opts": {"max-size": "10m"},
    "proxies": {"http-proxy": "http://proxy.invalid:3128"},
    "runtimes": {"confine": {"path": "/bin/true"}},
}
TYPE_SAMPLES = {str: "x", bool: True, int: 1, list: ["x"]}


def key_cases():
    """One daemon.json per key of the module's table, with a value of the key's type."""
    keys = sorted(daemon_utils.KNOWN_KEYS)
    return keys, [{key: OBJECT_SAMPLES.get(key, TYPE_SAMPLES.get(daemon_utils.KNOWN_KEYS[key][0]))} for key in keys]


def engine_disagreements(version, keys, verdicts):
    """Keys where the module's table and the real dockerd disagree about whether the engine knows the key.

    A dockerd that silently ignores a key (20.10 and default-network-opts) is not asked the key itself by dockerd's
    check, so the table's "ignores it" counts as "not known" only where dockerd says so."""
    wrong = []
    for key, verdict in zip(keys, verdicts):
        reason = daemon_utils.key_unsupported(key, version)
        table_unknown = reason is not None and "ignores it" not in reason
        if table_unknown != (verdict["verdict"] == "unknown"):
            wrong.append((key, reason, verdict))
    return wrong
