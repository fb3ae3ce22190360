"""The controller side of run_lock: this run's identity, and whether a holder's process still runs."""

from __future__ import annotations

import os
import subprocess

from ansible_collections.confine.docker.plugins.action import run_lock


def test_this_run_is_the_parent_process_with_its_start_time():
    me = run_lock.this_run("harden.yml")
    assert me["pid"] == os.getppid()
    assert me["pid_start"] == run_lock.process_start(os.getppid()) != "unknown"
    assert me["id"] == "%s:%d:%s" % (me["controller"], me["pid"], me["pid_start"])
    assert me["playbook"] == "harden.yml"


def test_a_running_process_is_alive_only_with_its_own_start_time():
    start = run_lock.process_start(os.getpid())
    assert run_lock.alive(os.getpid(), start)
    assert not run_lock.alive(os.getpid(), str(int(start) + 1))  # a reused pid


def test_an_exited_process_is_not_alive():
    proc = subprocess.Popen(["true"])
    start = run_lock.process_start(proc.pid)
    proc.wait()
    assert not run_lock.alive(proc.pid, start)
    assert not run_lock.alive(None, start) and not run_lock.alive(0, start)
