# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One runbook run per host: the run lock on the target.

A run holds the lock from its first change to its end. The lock is a small JSON file naming its holder: the
controller host, the ``ansible-playbook`` process there (pid and start time, so a reused pid is not mistaken for the
holder), the user, the playbook, when it was taken and when the holder last renewed it. Every read-judge-write
happens under ``flock`` on a guard file beside it, so two runs that start together cannot both take it.

A lock is stale when its lease ran out (the holder did not renew it for ``lease`` seconds), or when the controller
side found its holder's process gone (``takeover`` names the holder that was judged dead: the lock is replaced only
when it still names exactly that holder).

Plain Python, no Ansible imports; unit-tested directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from ansible_collections.confine.docker.plugins.module_utils._io import ReadError, atomic_write, read_text

DEFAULT_PATH = "/run/confine/lock"
# A run renews its lease at every stage; a stage (a workload round, a verify) that takes longer than this without
# renewing is not expected.
DEFAULT_LEASE = 3600
HOLDER_FIELDS = ("id", "controller", "pid", "pid_start", "user", "playbook", "started", "renewed")


class LockError(Exception):
    """The lock cannot be taken or released; the message says by whom it is held, or why."""


class LockHeld(LockError):
    """Another live run holds the lock."""

    def __init__(self, holder, path, now):
        self.holder = holder
        super().__init__(describe(holder, path, now))


def holder_id(controller, pid, pid_start):
    """The identity of a run: its controller host and its ansible-playbook process (pid and start time)."""
    return "%s:%d:%s" % (controller, pid, pid_start)


def describe(holder, path, now):
    """One sentence naming the holder, for the operator who started the second run."""
    started = holder.get("started")
    age = " (%d s ago)" % max(0, now - started) if isinstance(started, (int, float)) else ""
    return (
        "another confine.docker run holds the lock %s: ansible-playbook pid %s on the controller %s, user %s, "
        "playbook %s, started %s%s, lease renewed %s. Wait for it to finish; if that run is dead and its controller "
        "cannot say so, the lock is taken over once its lease runs out, or remove %s by hand"
        % (path, holder.get("pid", "?"), holder.get("controller", "?"), holder.get("user", "?"),
           holder.get("playbook", "?"), _when(started), age, _when(holder.get("renewed")), path)
    )


def _when(stamp):
    if not isinstance(stamp, (int, float)):
        return "at an unknown time"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def read_holder(path):
    """The holder recorded in ``path``, None when there is no lock. A lock file that cannot be read as a holder
    (truncated by a full disk, edited by hand) is returned as ``{"id": None, "corrupt": reason}``: it is stale."""
    try:
        text = read_text(path, max_bytes=1 << 16)
    except ReadError as exc:
        return {"id": None, "corrupt": str(exc)}
    if text is None:
        return None
    try:
        holder = json.loads(text)
    except ValueError as exc:
        return {"id": None, "corrupt": "not JSON (%s)" % exc}
    if not isinstance(holder, dict) or not isinstance(holder.get("id"), str):
        return {"id": None, "corrupt": "no holder id"}
    return holder


def stale_reason(holder, now, lease, takeover=None):
    """Why ``holder`` no longer holds the lock, or None while it does."""
    if holder.get("corrupt"):
        return "the lock file is unreadable: %s" % holder["corrupt"]
    if takeover is not None and takeover == holder.get("id"):
        return "its ansible-playbook process is gone from the controller %s" % holder.get("controller", "?")
    renewed = holder.get("renewed")
    if not isinstance(renewed, (int, float)):
        return "it records no renewal time"
    if renewed > now + 300:
        return "its renewal time lies in the future (a clock was changed)"
    if now - renewed > lease:
        return "its lease ran out (not renewed for %d s, more than %d s)" % (now - renewed, lease)
    return None


@contextlib.contextmanager
def _guard(path):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path + ".guard", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def acquire(path, me, lease=DEFAULT_LEASE, takeover=None, check_mode=False, now=None):
    """Take or renew the lock for ``me`` (a holder dict with at least ``id``).

    Returns ``{"changed", "action", "holder", "previous", "stale"}``: ``action`` is ``acquired`` (there was no
    lock), ``renewed`` (``me`` held it), or ``took_over`` (the previous holder was stale, ``stale`` says why).
    Raises LockHeld when another run holds it. In check mode nothing is written.
    """
    now = time.time() if now is None else now
    with _guard(path) if not check_mode else contextlib.nullcontext():
        current = read_holder(path)
        result = {"changed": True, "previous": current, "stale": None}
        if current is None:
            result["action"] = "acquired"
            record = dict(me, started=now, renewed=now)
        elif current.get("id") == me["id"]:
            result["action"] = "renewed"
            record = dict(current, renewed=now)
        else:
            reason = stale_reason(current, now, lease, takeover)
            if reason is None:
                raise LockHeld(current, path, now)
            result.update(action="took_over", stale=reason)
            record = dict(me, started=now, renewed=now)
        result["holder"] = record
        if not check_mode:
            atomic_write(path, json.dumps(record, sort_keys=True) + "\n", mode=0o600, dir_mode=0o700)
    return result


def release(path, me, check_mode=False):
    """Remove the lock when ``me`` holds it. Returns ``{"changed", "action"}``; ``action`` is ``released``,
    ``absent`` (no lock) or ``not_held`` (another run's lock, left alone)."""
    with _guard(path) if not check_mode else contextlib.nullcontext():
        current = read_holder(path)
        if current is None:
            return {"changed": False, "action": "absent"}
        if current.get("id") != me["id"]:
            return {"changed": False, "action": "not_held", "holder": current}
        if not check_mode:
            os.unlink(path)
        return {"changed": True, "action": "released"}
