"""confine.docker.run_lock through real ansible-playbook processes on this host: a second run stops at once naming
the first, a run killed with SIGKILL leaves a lock the next run from this controller takes over, and a lease that ran
out is taken over from any controller."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import time

import pytest
from conftest import ansible_playbook, start_playbook

pytestmark = pytest.mark.usefixtures("local_interpreter")


@pytest.fixture()
def lock_dir():
    path = tempfile.mkdtemp(prefix="confine-it-lock-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def play(lock, hold=0, lease=3600):
    tasks = [{"name": "take the lock", "confine.docker.run_lock": {"path": lock, "lease": lease}, "register": "taken"},
             {"name": "show it", "ansible.builtin.debug": {"msg": "LOCK {{ taken | to_json }}"}}]
    if hold:
        tasks.append({"name": "hold it", "ansible.builtin.wait_for": {"timeout": hold}})
        tasks.append({"name": "release it", "confine.docker.run_lock": {"path": lock, "state": "absent"}})
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def write_play(directory, name, plays):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(plays, handle)
    return path


def start(playbook):
    return start_playbook("-i", "localhost,", "-c", "local", playbook)


def wait_for_file(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)


def lock_result(output):
    lines = [line for line in output.splitlines() if '"msg": "LOCK ' in line]
    assert lines, output
    return json.loads(lines[-1].split('"msg": "LOCK ', 1)[1].rsplit('"', 1)[0].replace('\\"', '"'))


def test_a_second_run_stops_at_once_naming_the_first(lock_dir):
    lock = os.path.join(lock_dir, "lock")
    first = start(write_play(lock_dir, "first.yml", play(lock, hold=25)))
    try:
        wait_for_file(lock, first)
        began = time.monotonic()
        second = ansible_playbook("-i", "localhost,", "-c", "local", write_play(lock_dir, "second.yml", play(lock)),
                                  check=False)
        took = time.monotonic() - began
        assert second.returncode == 2, second.stdout
        assert "another confine.docker run holds the lock %s" % lock in second.stdout
        assert "ansible-playbook pid %d on the controller %s" % (first.pid, socket.gethostname()) in second.stdout
        assert "playbook first.yml" in second.stdout
        assert took < 20, took
        with open(lock, encoding="utf-8") as handle:
            assert json.load(handle)["pid"] == first.pid
    finally:
        output = first.communicate(timeout=120)[0]
    assert first.returncode == 0, output
    assert lock_result(output)["action"] == "acquired"
    assert not os.path.exists(lock)


def test_a_run_killed_on_this_controller_is_taken_over_at_once(lock_dir):
    lock = os.path.join(lock_dir, "lock")
    first = start(write_play(lock_dir, "first.yml", play(lock, hold=300)))
    wait_for_file(lock, first)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    assert os.path.exists(lock)
    second = ansible_playbook("-i", "localhost,", "-c", "local", write_play(lock_dir, "second.yml", play(lock)))
    taken = lock_result(second.stdout)
    assert taken["action"] == "took_over", taken
    assert "ansible-playbook process is gone" in taken["stale"] and taken["previous"]["pid"] == first.pid


@pytest.mark.parametrize(("age", "taken"), [(10, False), (4000, True)])
def test_another_controllers_lock_is_taken_over_only_after_its_lease(lock_dir, age, taken):
    lock = os.path.join(lock_dir, "lock")
    now = time.time()
    holder = {"id": "elsewhere:77:123", "controller": "elsewhere", "pid": 77, "pid_start": "123", "user": "ops",
              "playbook": "harden.yml", "started": now - age, "renewed": now - age}
    with open(lock, "w", encoding="utf-8") as handle:
        json.dump(holder, handle)
    proc = ansible_playbook("-i", "localhost,", "-c", "local", write_play(lock_dir, "run.yml", play(lock)), check=False)
    if not taken:
        assert proc.returncode == 2 and "on the controller elsewhere" in proc.stdout, proc.stdout
        with open(lock, encoding="utf-8") as handle:
            assert json.load(handle) == holder
        return
    assert proc.returncode == 0, proc.stdout
    result = lock_result(proc.stdout)
    assert result["action"] == "took_over" and "lease ran out" in result["stale"], result
