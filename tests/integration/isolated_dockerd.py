"""Start, stop, restart and reload a private dockerd for the daemon tests.

The daemon is fully separate from the host's: its own config file, data root, exec root (hence its own managed
containerd), pid file, socket and containerd namespaces, and it runs in a network namespace of its own
(``unshare --net``), so its iptables chains never touch the host's. Only command-line flags the daemon role never
writes to daemon.json are used here (a key given both as a flag and in the file stops dockerd).

    isolated_dockerd.py start|stop|restart|reload|status|purge [--base DIR] [--run DIR] [--timeout S]

``restart`` behaves like ``systemctl restart docker``: it exits non-zero (and prints the end of dockerd's log) when
the new dockerd does not answer. ``reload`` sends SIGHUP like ``systemctl reload docker``. ``purge`` removes the
daemon's containers, stops it and deletes every file it had. While ``<base>/daemon.json`` does not exist dockerd is
given an empty file instead, as dockerd treats a missing default config file (an explicit ``--config-file`` that is
missing is an error).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

DEFAULT_BASE = "/var/lib/confine-it-daemon"
DEFAULT_RUN = "/run/confine-it-daemon"
DOCKER = shutil.which("docker") or "/usr/bin/docker"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


class Paths:
    def __init__(self, base, run):
        self.base = base
        self.run = run
        self.config = os.path.join(base, "daemon.json")
        # Used instead of ``config`` while that file does not exist, which dockerd treats as "no settings" for
        # its default path but as an error for an explicit --config-file.
        self.no_config = os.path.join(run, "empty-daemon.json")
        self.data_root = os.path.join(base, "data")
        self.log = os.path.join(base, "dockerd.log")
        self.exec_root = os.path.join(run, "exec")
        self.pidfile = os.path.join(run, "docker.pid")
        self.socket = os.path.join(run, "docker.sock")

    @property
    def host(self):
        return "unix://" + self.socket


def dockerd_argv(paths):
    return [
        "unshare",
        "--net",
        "--",
        DOCKERD,
        "--config-file", paths.config if os.path.exists(paths.config) else paths.no_config,
        "--data-root", paths.data_root,
        "--exec-root", paths.exec_root,
        "--pidfile", paths.pidfile,
        "-H", paths.host,
        "--bridge", "none",
        "--containerd-namespace", "confine-it-daemon",
        "--containerd-plugins-namespace", "confine-it-daemon-plugins",
        "--cgroup-parent", "/confine-it-daemon",
    ]


def read_pid(paths):
    try:
        with open(paths.pidfile, encoding="ascii") as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or not _alive(pid):
        return None
    return pid


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(paths, timeout=10):
    try:
        proc = subprocess.run(
            [DOCKER, "-H", paths.host, "info", "--format", "{{.ID}}"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def log_tail(paths, since, lines=5):
    """dockerd's own complaints since offset ``since``: error lines, else the last few lines."""
    try:
        with open(paths.log, encoding="utf-8", errors="replace") as handle:
            handle.seek(since)
            text = handle.read()
    except OSError:
        return ""
    rows = text.strip().splitlines()
    errors = [row for row in rows if not row.startswith('time="') or "level=error" in row or "level=fatal" in row]
    return "\n".join((errors or rows)[-lines:])


def start(paths, timeout):
    if read_pid(paths) and answers(paths):
        return 0
    for directory in (paths.base, paths.data_root, paths.run, paths.exec_root):
        os.makedirs(directory, mode=0o711, exist_ok=True)
    with open(paths.no_config, "w", encoding="utf-8") as handle:
        handle.write("{}\n")
    since = os.path.getsize(paths.log) if os.path.exists(paths.log) else 0
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(
            dockerd_argv(paths), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("dockerd exited with status %d:\n%s" % (proc.returncode, log_tail(paths, since)), file=sys.stderr)
            return 1
        if os.path.exists(paths.socket) and answers(paths):
            print("dockerd %d answers on %s" % (proc.pid, paths.host))
            return 0
        time.sleep(0.3)
    print("dockerd did not answer within %ss:\n%s" % (timeout, log_tail(paths, since)), file=sys.stderr)
    return 1


def stop(paths, timeout):
    pid = read_pid(paths)
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(paths.pidfile)
    return 0


def reload(paths, timeout):
    pid = read_pid(paths)
    if pid is None:
        print("dockerd is not running (no live pid in %s)" % paths.pidfile, file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGHUP)
    time.sleep(1)
    if not answers(paths, timeout=timeout):
        print("dockerd stopped answering after SIGHUP", file=sys.stderr)
        return 1
    return 0


def _our_processes(paths):
    """Pids of processes started for this daemon (its containerd and shims name our exec root)."""
    marker = paths.exec_root.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


def _unmount_under(*roots):
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        points = [line.split()[1].replace("\\040", " ") for line in handle]
    for point in sorted(points, key=len, reverse=True):
        if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def purge(paths, timeout):
    if read_pid(paths) and answers(paths):
        ids = subprocess.run(
            [DOCKER, "-H", paths.host, "ps", "-aq"], capture_output=True, text=True, check=False
        ).stdout.split()
        if ids:
            subprocess.run([DOCKER, "-H", paths.host, "rm", "-f", *ids], capture_output=True, check=False)
    stop(paths, timeout)
    for pid in _our_processes(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _unmount_under(paths.base, paths.run)
    shutil.rmtree(paths.base, ignore_errors=True)
    shutil.rmtree(paths.run, ignore_errors=True)
    return 0


def status(paths, timeout):
    pid = read_pid(paths)
    ok = pid is not None and answers(paths, timeout=timeout)
    print("running pid %s" % pid if ok else "not running")
    return 0 if ok else 1


class Handle:
    """A test's handle on one private dockerd: this script's actions run for it (``launcher``) and the Docker CLI
    talking to it (``docker``); each returns the CompletedProcess and, with ``check``, asserts it succeeded."""

    def __init__(self, base, run, timeout=30):
        self.base, self.run, self.timeout = base, run, timeout
        self.host = "unix://" + os.path.join(run, "docker.sock")

    def launcher(self, action, check=True):
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), action, "--base", self.base,
                               "--run", self.run, "--timeout", str(self.timeout)],
                              capture_output=True, text=True, check=False)
        if check:
            assert proc.returncode == 0, "%s failed: %s%s" % (action, proc.stdout, proc.stderr)
        return proc

    def docker(self, *args, check=True):
        proc = subprocess.run([DOCKER, "-H", self.host, *args], capture_output=True, text=True, check=False)
        if check:
            assert proc.returncode == 0, "docker %s failed: %s" % (args, proc.stderr)
        return proc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "restart", "reload", "status", "purge"])
    parser.add_argument("--base", default=DEFAULT_BASE, help="config file, data root and log live here")
    parser.add_argument("--run", default=DEFAULT_RUN, help="socket, pid file and exec root live here")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    paths = Paths(args.base, args.run)
    if args.action == "restart":
        stop(paths, args.timeout)
        return start(paths, args.timeout)
    action = {"start": start, "stop": stop, "reload": reload, "status": status, "purge": purge}[args.action]
    return action(paths, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
