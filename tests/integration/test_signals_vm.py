"""Generated AppArmor profiles and signals, in the lab VM of each Debian stack.

On AppArmor 4 hosts (Debian 13) the container runtime runs under a profile of its own (``runc``, flagged unconfined),
so a profile that lets only ``unconfined`` signal the container makes ``docker stop`` wait out its timeout and end by
SIGKILL, and ``docker kill`` fail. The generated profile lets the container itself, the host and the runtime signal
it, and nothing else: ``docker stop``, ``docker kill`` and ``docker restart`` work within their timeouts on both stacks,
and a process under another profile is refused (``DENIED operation="signal"``).

The profile declares the ABI of the host (3.0 with AppArmor 3, 4.0 with AppArmor 4) and compiles without warnings
about itself.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
from conftest import run_module, vm_ssh

pytestmark = pytest.mark.vm

MODULE = "confine.docker.apparmor_profile"
HOST = "confine-vm-1"
IMAGE = "confine-lab/base:bookworm"
PROFILE = "confine-it-signals"
OTHER = "confine-it-signals-other"
TARGET = "confine-it-signals"
SENDER = "confine-it-signals-sender"
AUDIT_LOG = "/var/log/audit/audit.log"
# The container's stop timeout: a SIGTERM the profile refused would end in Docker's SIGKILL fallback after it, so a
# stop or restart well within it (under a loaded TCG VM a clean restart takes up to about 10 s) shows the signal
# arrived; the program's own "got SIGTERM" lines and exit code 0 prove it.
STOP_TIMEOUT = 60
WITHIN = 30
SPEC = {
    "name": PROFILE,
    "filesystem": {"writable_paths": ["/tmp/**"], "allow_exec": ["/usr/bin/python3*"]},
    "network": {"protocols": ["tcp", "udp"]},
}
# The container's program: says which signal it got and exits 0 on SIGTERM, so a clean `docker stop` is told from
# the SIGKILL fallback (exit code 137).
PROGRAM = (
    "import signal, sys, time\n"
    "def note(sig, frame):\n"
    "    print('got', signal.Signals(sig).name, flush=True)\n"
    "    if sig == signal.SIGTERM:\n"
    "        sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, note)\n"
    "signal.signal(signal.SIGUSR1, note)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
# Another confined process that may send any signal: whatever refuses its signal is the receiving profile.
SENDER_PROFILE = (
    "include <tunables/global>\n"
    "profile %s flags=(attach_disconnected,mediate_deleted) {\n"
    "  include <abstractions/base>\n"
    "  file,\n"
    "  signal,\n"
    "}\n" % OTHER
)
# Kernel notes --warn=all prints about what the running kernel cannot mediate, not about the profile: Linux before
# 6.17 has no fine-grained unix socket mediation, so unix rules (the distribution's abstractions/base has some) fall
# back to network rules, and AppArmor 3.0's parser cannot enforce a deny rule that covers unix sockets
# (`deny network raw,`).
KERNEL_NOTES = (
    "downgrading extended network unix socket rule to generic network rule",
    "deny unix socket rule not enforced, can't be downgraded to generic network rule",
)
EXPECTED_ABI = {"bookworm": "3.0", "trixie": "4.0"}


def ssh(inventory, command, **kwargs):
    return vm_ssh(inventory, command, **kwargs)


def container(inventory, name):
    return json.loads(ssh(inventory, "docker inspect %s" % name).stdout)[0]


def audit_mark(inventory):
    return int(ssh(inventory, "wc -l < %s" % AUDIT_LOG).stdout.strip())


def signal_denials(inventory, since):
    lines = ssh(inventory, "tail -n +%d %s" % (since + 1, AUDIT_LOG), check=False).stdout.splitlines()
    return [line for line in lines if 'apparmor="DENIED"' in line and 'operation="signal"' in line]


def timed(inventory, command):
    start = time.monotonic()
    proc = ssh(inventory, command, check=False)
    return proc, time.monotonic() - start


def logs(inventory):
    return ssh(inventory, "docker logs %s" % TARGET).stdout.split("\n")


def wait_for_line(inventory, line, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while logs(inventory).count(line) < count:
        assert time.monotonic() < deadline, "no %r in the container's output: %s" % (line, logs(inventory))
        time.sleep(0.5)


@pytest.fixture
def lab(lab_inventory):
    ssh(lab_inventory, "docker rm -f %s %s >/dev/null 2>&1; true" % (TARGET, SENDER))
    try:
        yield lab_inventory
    finally:
        ssh(lab_inventory, "docker rm -f %s %s >/dev/null 2>&1; apparmor_parser -R /tmp/%s 2>/dev/null; true"
            % (TARGET, SENDER, OTHER), check=False)
        run_module(MODULE, {"name": PROFILE, "state": "absent"}, inventory=lab_inventory, host=HOST)


def test_profile_declares_the_host_abi_and_compiles_without_warnings_about_itself(lab, lab_suite):
    result = run_module(MODULE, {"spec": SPEC, "mode": "enforce"}, inventory=lab, host=HOST)
    assert not result.get("failed") and result["changed"] is True, result
    assert result["abi"] == EXPECTED_ABI[lab_suite]
    assert result["ansible_facts"]["confine_apparmor_host"]["abi"] == EXPECTED_ABI[lab_suite]
    path = result["path"]
    assert "abi <abi/%s>," % EXPECTED_ABI[lab_suite] in ssh(lab, "cat %s" % path).stdout.splitlines()

    plain = ssh(lab, "apparmor_parser -QK %s 2>&1" % path)
    assert plain.stdout.strip() == "", plain.stdout
    every = ssh(lab, "apparmor_parser -QK --warn=all %s 2>&1" % path).stdout
    about_profile = [line for line in every.splitlines() if line.strip() and not any(n in line for n in KERNEL_NOTES)]
    assert about_profile == [], every
    # Compiled for the features its ABI describes (rather than this kernel's), nothing is downgraded.
    for_abi = ssh(lab, "apparmor_parser -QK --warn=all -M /etc/apparmor.d/abi/%s %s 2>&1"
                  % (EXPECTED_ABI[lab_suite], path)).stdout
    assert not [line for line in for_abi.splitlines() if "downgrading" in line], for_abi
    # The same text loads (the module did that) and a second run changes nothing.
    assert run_module(MODULE, {"spec": SPEC, "mode": "enforce"}, inventory=lab, host=HOST)["changed"] is False


def test_runtime_and_host_signal_the_container_other_profiles_cannot(lab, lab_suite):
    assert not run_module(MODULE, {"spec": SPEC, "mode": "enforce"}, inventory=lab, host=HOST).get("failed")
    if lab_suite == "trixie":
        # The runtime runs under a profile of its own there, so the peer of its signals is `runc`, not unconfined.
        assert "runc (unconfined)" in ssh(lab, "cat /sys/kernel/security/apparmor/profiles").stdout
    ssh(lab, "cat > /tmp/%s <<'EOF'\n%sEOF\napparmor_parser -r /tmp/%s" % (OTHER, SENDER_PROFILE, OTHER))
    ssh(lab, "docker run -d --name %s --security-opt apparmor=%s --stop-timeout %d %s python3 -c %s"
        % (TARGET, PROFILE, STOP_TIMEOUT, IMAGE, shlex.quote(PROGRAM)))
    wait_for_line(lab, "ready")
    info = container(lab, TARGET)
    assert info["AppArmorProfile"] == PROFILE
    assert ssh(lab, "cat /proc/%d/attr/current" % info["State"]["Pid"]).stdout.strip() == "%s (enforce)" % PROFILE

    # Another confined process (its own profile may signal anything) sharing the container's PID namespace.
    mark = audit_mark(lab)
    sent = ssh(lab, "docker run --rm --name %s --pid container:%s --security-opt apparmor=%s %s python3 -c %s"
               % (SENDER, TARGET, OTHER, IMAGE, shlex.quote("import os, signal; os.kill(1, signal.SIGUSR1)")),
               check=False)
    assert sent.returncode != 0 and "Permission denied" in sent.stderr, sent
    denied = signal_denials(lab, mark)
    assert any('profile="%s"' % PROFILE in line and 'peer="%s"' % OTHER in line and "receive" in line
               for line in denied), denied
    assert "got SIGUSR1" not in logs(lab)
    # The container's own processes (docker exec runs under the container's profile) may.
    own = ssh(lab, "docker exec %s python3 -c 'import os, signal; os.kill(1, signal.SIGUSR1)'" % TARGET, check=False)
    assert own.returncode == 0, own
    wait_for_line(lab, "got SIGUSR1")

    mark = audit_mark(lab)
    # docker stop: SIGTERM from the runtime, a clean exit well within the timeout, not the SIGKILL fallback.
    stop, took = timed(lab, "docker stop %s" % TARGET)
    state = container(lab, TARGET)["State"]
    assert stop.returncode == 0 and took < WITHIN, (stop, took)
    assert state["Running"] is False and state["ExitCode"] == 0, state
    assert logs(lab).count("got SIGTERM") == 1

    ssh(lab, "docker start %s" % TARGET)
    wait_for_line(lab, "ready", count=2)
    started = container(lab, TARGET)["State"]["StartedAt"]
    restart, took = timed(lab, "docker restart %s" % TARGET)
    state = container(lab, TARGET)["State"]
    assert restart.returncode == 0 and took < WITHIN, (restart, took)
    assert state["Running"] is True and state["StartedAt"] != started
    wait_for_line(lab, "ready", count=3)
    assert logs(lab).count("got SIGTERM") == 2

    # docker kill -s TERM reaches the program; docker kill (SIGKILL) ends it.
    term = ssh(lab, "docker kill -s TERM %s" % TARGET, check=False)
    assert term.returncode == 0, term
    wait_for_line(lab, "got SIGTERM", count=3)
    ssh(lab, "docker start %s" % TARGET)
    wait_for_line(lab, "ready", count=4)
    kill, took = timed(lab, "docker kill %s" % TARGET)
    state = container(lab, TARGET)["State"]
    assert kill.returncode == 0 and took < WITHIN, (kill, took)
    assert state["Running"] is False and state["ExitCode"] == 137, state

    assert signal_denials(lab, mark) == []
