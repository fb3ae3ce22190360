"""Unit tests for _guard: rules judged by what they cover, as tables of (pattern, perms) -> refused / admitted."""

from __future__ import annotations

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _aare, _guard

REFUSED = [
    # Globs whose fixed prefix is a sensitive directory, for write, link, lock, exec or mmap-exec.
    ("/etc/*", "w", "/etc/"),
    ("/etc/**", "w", "/etc/"),
    ("/etc/?????", "w", "/etc/"),
    ("/etc/[a-z]*", "w", "/etc/"),
    ("/etc/{ab,cd}*", "w", "/etc/"),
    ("/etc/*", "l", "/etc/"),
    ("/etc/*", "k", "/etc/"),
    ("/etc/cron.d/*", "w", "cron"),
    ("/dev/*", "w", "/dev/"),
    ("/dev/[a-z]*", "rw", "/dev/"),
    ("/dev/**", "k", "/dev/"),
    ("/usr/bin/*", "mrix", "shell"),
    ("/usr/bin/*", "w", "system binaries"),
    ("/usr/lib/**", "m", "system binaries"),
    ("/bin/*", "ix", "shell"),
    ("/sbin/x*", "x", "system binaries"),
    ("/lib/*", "w", "system binaries"),
    ("/lib64/**", "w", "system binaries"),
    ("/boot/*", "w", "boot"),
    ("/root/*", "w", "root's home"),
    ("/root/.ssh/*", "w", "SSH keys"),
    ("/home/*/.ssh/authorized_keys", "w", "SSH keys"),
    ("/run/docker.*", "w", "container engine's socket"),
    ("/run/*", "w", "/run/"),
    ("/var/run/*.pid", "w", "run directory"),
    ("/run/docker/**", "w", "/run/docker"),
    ("/sys/**", "w", "/sys"),
    ("/sys/fs/cgroup/*", "w", "/sys"),
    ("/proc/*", "w", "/proc"),
    ("@{PROC}/@{pid}/*", "w", "/proc"),
    ("@{PROC}/sys/kernel/*", "w", "/proc/sys"),
    ("@{PROC}/@{pid}/attr/current", "w", "security label"),
    ("@{PROC}/@{pid}/mem", "r", "memory"),
    ("/*", "w", "directly under /"),
    ("/**", "w", ""),
    ("/**", "rwk", ""),
    ("/*/shadow", "w", "password hashes"),
    ("/{,usr/}bin/{ba,da}sh", "x", "shell"),
    ("/{tmp,var/tmp}/**", "mrix", "world-writable"),
    ("/tmp/x*", "m", "world-writable"),
    ("/dev/shm/*", "x", "world-writable"),
    ("/var/spool/cron/crontabs/*", "w", "cron"),
    ("/run/**", "w", "socket"),
    ("/var/lib/docker/**", "w", "engine's state"),
    ("@{UNKNOWN}/x", "w", ""),  # an unknown variable could be anything
    # Literal paths in sensitive places.
    ("/etc/ab12cd34", "w", "/etc"),
    ("/etc/passwd", "w", "accounts"),
    ("/etc/shadow", "r", "password hashes"),
    ("/etc/ld.so.preload", "w", "every process"),
    ("/dev/xk29s8d7", "w", "device"),
    ("/dev/sda1", "r", "raw disk"),
    ("/dev/mem", "r", "memory"),
    ("/usr/bin/xk3j9a2q", "w", "system binaries"),
    ("/usr/bin/dash", "ix", "shell"),
    ("/usr/bin/nc.openbsd", "x", "relay"),
    ("/tmp/dropper", "x", "world-writable"),
    ("/proc/1234/attr/current", "w", "security label"),
    ("/proc/sysrq-trigger", "w", "SysRq"),
    ("/proc/1/uid_map", "w", "/proc"),
    ("/sys/kernel/mm/transparent_hugepage/enabled", "w", "/sys"),
    ("/root/.bashrc", "w", "root's home"),
    ("/run/docker.sock", "rw", "container engine's socket"),
    ("/var/run/docker.sock", "w", "container engine's socket"),
    ("/run/containerd/containerd.sock", "rw", "host services"),
    ("/etc/**", "r", "password hashes"),
    ("/boot/vmlinuz", "w", "boot"),
]

ADMITTED = [
    # Legitimate generalisation inside an application's own writable directories.
    ("/var/cache/nginx/proxy_temp/[0-9]*/[0-9]*/[0-9]*", "w"),
    ("/var/cache/nginx/**", "rwk"),
    ("/tmp/tmp*", "w"),
    ("/tmp/tmp.*", "rw"),
    ("/tmp/**", "rwk"),
    ("/var/lib/app/*.db", "wk"),
    ("/var/lib/postgresql/[0-9]*/main/base/[0-9]*/[0-9]*_vm", "w"),
    ("/var/lib/postgresql/[0-9]*/main/base/pgsql_tmp/pgsql_tmp[0-9]*.[0-9]*.fileset/", "w"),
    ("/var/log/app/worker-[0-9]*.log", "w"),
    ("/run/app/*.sock", "w"),
    ("/run/postgresql/*", "w"),
    ("/dev/shm/PostgreSQL.[0-9]*", "rw"),
    ("/dev/pts/[0-9]*", "rw"),
    ("@{PROC}/@{pid}/oom_score_adj", "w"),
    ("@{PROC}/@{pid}/task/@{tid}/comm", "w"),
    ("@{PROC}/@{pid}/status", "r"),
    ("/usr/lib/**", "r"),
    # Literal paths: existing binaries may run, runtime files may be written.
    ("/usr/sbin/nginx", "mrix"),
    ("/usr/bin/python3.11", "mrix"),
    ("/usr/lib/x86_64-linux-gnu/libssl.so.3", "mr"),
    ("/run/nginx.pid", "w"),
    ("/run/docker.k3j9a8b7", "w"),
    ("/dev/null", "w"),
    ("/dev/urandom", "r"),
    ("/dev/tty", "rw"),
    ("/proc/1234/oom_score_adj", "w"),
    ("/var/lib/app/records.db", "wk"),
    ("/opt/app/bin/worker", "mrix"),
]


@pytest.mark.parametrize(("pattern", "perms", "why"), REFUSED)
def test_refused(pattern, perms, why):
    reason, entry = _guard.judge_path(pattern, perms)
    assert reason is not None, "%s %s was admitted" % (pattern, perms)
    assert why in reason
    if entry is not None:
        assert entry.reason in reason


@pytest.mark.parametrize(("pattern", "perms"), ADMITTED)
def test_admitted(pattern, perms):
    assert _guard.judge_path(pattern, perms) == (None, None)


def test_a_glob_is_refused_where_its_literal_instances_are_admitted():
    # /run/docker.k3j9a8b7 alone is a harmless file, but /run/docker.* also covers the engine's socket.
    assert _guard.judge_path("/run/docker.k3j9a8b7", "w")[0] is None
    assert "socket" in _guard.judge_path("/run/docker.*", "w")[0]
    # Executing an existing binary is fine; a glob over the binaries is not.
    assert _guard.judge_path("/usr/bin/pq8r7s6t", "mrix")[0] is None
    assert _guard.judge_path("/usr/bin/pq8r7s6t*", "mrix")[0] is not None


def test_malformed_pattern_is_refused_not_raised():
    reason, _entry = _guard.judge_path("/tmp/{a", "w")
    assert "not valid" in reason


def test_every_table_entry_parses_and_refuses_something():
    for entry in _guard.SENSITIVE:
        alternatives = _aare.alternatives(entry.scope, "none")
        assert alternatives, entry
        assert entry.glob_perms or entry.literal_perms, entry
        assert entry.reason, entry
        assert entry.glob_perms <= set(_guard.PERMS) and entry.literal_perms <= set(_guard.PERMS), entry
        for pattern, perms in entry.allow:
            assert _aare.alternatives(pattern, "none") and perms <= set(_guard.PERMS), (entry, pattern)
        # The scope itself, as a glob, is refused for its glob permissions.
        if entry.glob_perms:
            assert _guard.judge_path(entry.scope, "".join(sorted(entry.glob_perms)))[0] is not None, entry


@pytest.mark.parametrize(
    ("name", "refused"),
    # audit_write: a container keeps it only when its entry asks (sshd's audit support); forged records it could
    # send are never events, so the capability itself is not refused.
    [("sys_admin", True), ("audit_write", False), ("mknod", True), ("net_bind_service", False), ("chown", False)],
)
def test_capabilities(name, refused):
    assert (_guard.judge_capability(name) is not None) is refused


@pytest.mark.parametrize(
    ("family", "sock_type", "refused"),
    [("inet", "raw", True), ("inet6", "raw", True), ("packet", "dgram", True), ("packet", None, True),
     ("netlink", "raw", False), ("inet", "stream", False), ("unix", "dgram", False)],
)
def test_network(family, sock_type, refused):
    assert (_guard.judge_network(family, sock_type) is not None) is refused


def test_signals_and_ptrace_stay_within_the_profile():
    assert _guard.judge_signal("send", "confine-web", "confine-web") is None
    assert _guard.judge_signal("send", "confine-web//null-/usr/bin/x", "confine-web") is None
    assert _guard.judge_signal("send", "confine-webx", "confine-web") is not None
    assert _guard.judge_signal("receive", "runc", "confine-web") is None
    assert _guard.judge_ptrace("confine-web", "confine-web") is None
    assert _guard.judge_ptrace("unconfined", "confine-web") is not None


@pytest.mark.parametrize(("name", "refused"), [("mount", True), ("keyctl", True), ("bpf", True), ("read", False)])
def test_syscalls(name, refused):
    assert (_guard.judge_syscall(name) is not None) is refused
