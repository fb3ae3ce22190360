"""The run lock: take, renew, release, refuse a live holder, take over a stale one."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _lock
from ansible_collections.confine.docker.plugins.module_utils._lock import LockHeld

NOW = 1_800_000_000.0


def run(controller="ctl-a", pid=100, start="500", playbook="harden.yml"):
    return {"id": _lock.holder_id(controller, pid, start), "controller": controller, "pid": pid, "pid_start": start,
            "user": "ops", "playbook": playbook}


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "run" / "confine" / "lock")


def test_acquire_writes_the_holder_and_release_removes_it(path):
    me = run()
    result = _lock.acquire(path, me, now=NOW)
    assert result["action"] == "acquired" and result["changed"]
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    assert record == dict(me, started=NOW, renewed=NOW)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert _lock.release(path, me) == {"changed": True, "action": "released"}
    assert not os.path.exists(path)
    assert _lock.release(path, me) == {"changed": False, "action": "absent"}


def test_the_holder_renews_its_lease(path):
    me = run()
    _lock.acquire(path, me, now=NOW)
    result = _lock.acquire(path, me, now=NOW + 600)
    assert result["action"] == "renewed"
    assert result["holder"]["started"] == NOW and result["holder"]["renewed"] == NOW + 600


def test_a_live_holder_stops_another_run_naming_it(path):
    first, second = run(), run(controller="ctl-b", pid=7)
    _lock.acquire(path, first, now=NOW)
    with open(path, encoding="utf-8") as handle:
        before = handle.read()
    with pytest.raises(LockHeld) as info:
        _lock.acquire(path, second, now=NOW + 10)
    message = str(info.value)
    for fragment in ("pid 100", "controller ctl-a", "user ops", "playbook harden.yml", "started 2027-01-15T08:00:00Z",
                     "(10 s ago)", path):
        assert fragment in message, message
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == before
    # ... and its release leaves the holder's lock alone.
    assert _lock.release(path, second)["action"] == "not_held"
    assert os.path.exists(path)


def test_check_mode_writes_nothing_but_still_refuses_a_live_holder(path):
    assert _lock.acquire(path, run(), check_mode=True, now=NOW)["action"] == "acquired"
    assert not os.path.exists(path)
    _lock.acquire(path, run(), now=NOW)
    with pytest.raises(LockHeld):
        _lock.acquire(path, run(pid=9), check_mode=True, now=NOW)


@pytest.mark.parametrize(
    ("age", "lease", "stale"),
    [(3599, 3600, False), (3601, 3600, True), (61, 60, True), (-200, 3600, False), (-301, 3600, True)],
)
def test_a_lease_that_ran_out_is_taken_over(path, age, lease, stale):
    _lock.acquire(path, run(), now=NOW)
    later = run(controller="ctl-b", pid=7)
    if not stale:
        with pytest.raises(LockHeld):
            _lock.acquire(path, later, lease=lease, now=NOW + age)
        return
    result = _lock.acquire(path, later, lease=lease, now=NOW + age)
    assert result["action"] == "took_over" and result["previous"]["pid"] == 100
    assert ("lease ran out" in result["stale"]) or ("future" in result["stale"])
    assert _lock.read_holder(path)["id"] == later["id"]


def test_takeover_replaces_only_the_holder_judged_dead(path):
    dead = run()
    _lock.acquire(path, dead, now=NOW)
    me = run(pid=200, start="900")
    with pytest.raises(LockHeld):
        _lock.acquire(path, me, takeover="ctl-a:999:1", now=NOW + 5)
    result = _lock.acquire(path, me, takeover=dead["id"], now=NOW + 5)
    assert result["action"] == "took_over" and "process is gone" in result["stale"]


@pytest.mark.parametrize("content", [b"", b'{"id": ', b"\xff\xfe", b'["x"]', b'{"pid": 3}'])
def test_an_unreadable_lock_file_is_stale(path, content):
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(content)
    result = _lock.acquire(path, run(), now=NOW)
    assert result["action"] == "took_over" and "unreadable" in result["stale"]


def _contend(path, index, barrier, results):
    barrier.wait()
    try:
        _lock.acquire(path, run(pid=1000 + index), now=NOW)
        results.put(("acquired", index))
    except LockHeld:
        results.put(("held", index))


def test_runs_that_start_together_cannot_both_take_it(path):
    os.makedirs(os.path.dirname(path))
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_contend, args=(path, index, barrier, results)) for index in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    outcomes = sorted(results.get(timeout=5)[0] for _worker in workers)
    assert outcomes == ["acquired"] + ["held"] * 7
