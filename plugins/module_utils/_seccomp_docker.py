# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker's built-in default seccomp profile, described as data, for every engine from 20.10 on.

The data below is Docker Engine 20.10.24's default profile. Its unconditional allow-list is split into named topical
groups so that a profile can start from Docker's default and drop what an application does not use
(``drop_groups=["aio", "sysv_ipc"]``). The conditional rules (granted with a capability, on an architecture or from a
kernel version) are named groups too. Later engines are this description plus the changes listed in
``_seccomp_docker_versions.py``, in the same groups: :func:`description` renders the one of a given engine version.
Rendered in order, the groups give a profile that Docker evaluates exactly like its built-in one;
``tests/unit/plugins/module_utils/test_seccomp_docker_versions.py`` compares every described version with Moby's
published profile and ``tests/integration/test_seccomp_probe.py`` proves it against a running engine with a syscall
probe. :func:`read_engine_version` asks a local dockerd which version it is. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import copy
import functools
import http.client
import json
import os
import re
import socket

from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker_versions as versions

DEFAULT_ACTION = "SCMP_ACT_ERRNO"

# Engine 20.10.24's archMap: the native architecture and the compat architectures allowed with it.
ARCH_MAP = (
    ("SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("SCMP_ARCH_MIPS64N32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    ("SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("SCMP_ARCH_MIPSEL64N32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    ("SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
)

# The capabilities Docker gives a container unless told otherwise.
DEFAULT_CAPS = (
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)

# Engine 20.10.24's unconditional allow-list, by topic. Every name appears in exactly one group.
ALLOW_GROUPS = {
    "process": (
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "fork",
        "vfork",
        "wait4",
        "waitid",
        "waitpid",
        "getpid",
        "getppid",
        "gettid",
        "getpgid",
        "getpgrp",
        "getsid",
        "setpgid",
        "setsid",
        "set_tid_address",
        "prctl",
        "seccomp",
        "uname",
        "sysinfo",
        "getrusage",
        "times",
        "getcpu",
        "getrandom",
        "umask",
        "getrlimit",
        "setrlimit",
        "prlimit64",
        "ugetrlimit",
        "get_thread_area",
        "set_thread_area",
        "restart_syscall",
        "rseq",
        "membarrier",
        "pidfd_open",
        "pidfd_send_signal",
        "process_mrelease",
    ),
    "threads": (
        "futex",
        "futex_time64",
        "futex_waitv",
        "get_robust_list",
        "set_robust_list",
    ),
    "scheduling": (
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
        "getpriority",
        "setpriority",
        "ioprio_get",
        "ioprio_set",
    ),
    "credentials": (
        "capget",
        "capset",
        "getegid",
        "getegid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getgroups",
        "getgroups32",
        "getresgid",
        "getresgid32",
        "getresuid",
        "getresuid32",
        "getuid",
        "getuid32",
        "setfsgid",
        "setfsgid32",
        "setfsuid",
        "setfsuid32",
        "setgid",
        "setgid32",
        "setgroups",
        "setgroups32",
        "setregid",
        "setregid32",
        "setresgid",
        "setresgid32",
        "setresuid",
        "setresuid32",
        "setreuid",
        "setreuid32",
        "setuid",
        "setuid32",
    ),
    "signals": (
        "kill",
        "tkill",
        "tgkill",
        "pause",
        "alarm",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "sigprocmask",
        "sigreturn",
    ),
    "time": (
        "adjtimex",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_gettime",
        "clock_gettime64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "gettimeofday",
        "nanosleep",
        "time",
        "getitimer",
        "setitimer",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_gettime64",
        "timer_settime",
        "timer_settime64",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_gettime64",
        "timerfd_settime",
        "timerfd_settime64",
    ),
    "memory": (
        "brk",
        "mmap",
        "mmap2",
        "munmap",
        "mprotect",
        "mremap",
        "madvise",
        "mincore",
        "msync",
        "mlock",
        "mlock2",
        "mlockall",
        "munlock",
        "munlockall",
        "remap_file_pages",
        "memfd_create",
        "memfd_secret",
    ),
    "file_io": (
        "open",
        "openat",
        "openat2",
        "creat",
        "close",
        "close_range",
        "read",
        "readv",
        "pread64",
        "preadv",
        "preadv2",
        "write",
        "writev",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "lseek",
        "_llseek",
        "dup",
        "dup2",
        "dup3",
        "fcntl",
        "fcntl64",
        "ioctl",
        "flock",
        "fsync",
        "fdatasync",
        "sync",
        "syncfs",
        "sync_file_range",
        "fallocate",
        "fadvise64",
        "fadvise64_64",
        "readahead",
        "copy_file_range",
        "sendfile",
        "sendfile64",
        "splice",
        "tee",
        "vmsplice",
        "pipe",
        "pipe2",
    ),
    "file_metadata": (
        "access",
        "faccessat",
        "faccessat2",
        "stat",
        "stat64",
        "lstat",
        "lstat64",
        "fstat",
        "fstat64",
        "fstatat64",
        "newfstatat",
        "statx",
        "statfs",
        "statfs64",
        "fstatfs",
        "fstatfs64",
        "chmod",
        "fchmod",
        "fchmodat",
        "chown",
        "chown32",
        "fchown",
        "fchown32",
        "fchownat",
        "lchown",
        "lchown32",
        "utime",
        "utimes",
        "utimensat",
        "utimensat_time64",
        "futimesat",
        "readlink",
        "readlinkat",
        "getdents",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "truncate",
        "truncate64",
        "ftruncate",
        "ftruncate64",
    ),
    "file_create": (
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "rename",
        "renameat",
        "renameat2",
        "rmdir",
        "unlink",
        "unlinkat",
    ),
    "xattr": (
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
    ),
    "polling": (
        "select",
        "_newselect",
        "pselect6",
        "pselect6_time64",
        "poll",
        "ppoll",
        "ppoll_time64",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
    ),
    "file_notify": (
        "inotify_add_watch",
        "inotify_init",
        "inotify_init1",
        "inotify_rm_watch",
        "fanotify_mark",
    ),
    "aio": (
        "io_setup",
        "io_destroy",
        "io_submit",
        "io_cancel",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
    ),
    "io_uring": (
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
    ),
    "network": (
        "socket",
        "socketpair",
        "socketcall",
        "bind",
        "connect",
        "listen",
        "accept",
        "accept4",
        "getsockname",
        "getpeername",
        "getsockopt",
        "setsockopt",
        "send",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "recv",
        "recvfrom",
        "recvmsg",
        "recvmmsg",
        "recvmmsg_time64",
        "shutdown",
    ),
    "sysv_ipc": (
        "ipc",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
    ),
    "mqueue": (
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_unlink",
    ),
    "landlock": (
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
    ),
}

# Groups an application cannot run without on any Linux libc: a least-privilege profile always keeps them.
RUNTIME_MINIMUM_GROUPS = ("process", "threads", "signals", "memory")

# Names every container needs for runc to start the process and for the libc to reach main(): runc (1.1) makes
# its last set-up calls (chdir, fstatfs on /proc/self/fd, faccessat2, epoll_ctl, capset, setuid...) and execve
# under the filter, and glibc start-up touches the rest before any application code runs. Measured with runc 1.1
# and Debian bookworm's glibc: a container running /bin/true starts with exactly these allowed.
RUNTIME_MINIMUM = (
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "close",
    "epoll_ctl",
    "execve",
    "exit",
    "exit_group",
    "faccessat2",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getpid",
    "getppid",
    "gettid",
    "ioctl",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setuid",
    "statx",
    "tgkill",
    "write",
)

# Engine 20.10.24's conditional rules, in Docker's order. Each: (group name, rule) with rule in Docker's JSON shape.
CONDITIONAL_RULES = (
    ("ptrace_min_kernel", {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}),
    ("personality", {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}),
    ("personality", {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}),
    ("personality", {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]}),
    ("personality", {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]}),
    ("personality", {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]}),
    ("arch_ppc64le", {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["ppc64le"]}}),
    ("arch_arm", {"names": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                            "cacheflush", "set_tls"],
                  "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}}),
    ("arch_x86", {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}}),
    ("arch_x86", {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW",
                  "includes": {"arches": ["amd64", "x32", "x86"]}}),
    ("arch_s390", {"names": ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
                   "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390", "s390x"]}}),
    ("cap_dac_read_search", {"names": ["open_by_handle_at"], "action": "SCMP_ACT_ALLOW",
                             "includes": {"caps": ["CAP_DAC_READ_SEARCH"]}}),
    ("cap_sys_admin", {"names": ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                                 "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
                                 "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
                                 "sethostname", "setns", "syslog", "umount", "umount2", "unshare"],
                       "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}),
    ("clone", {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
               "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}}),
    ("clone", {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 1, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
               "comment": "s390 parameter ordering for clone is different",
               "includes": {"arches": ["s390", "s390x"]}, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
    ("clone", {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
               "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
    ("cap_sys_boot", {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}}),
    ("cap_sys_chroot", {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}}),
    ("cap_sys_module", {"names": ["delete_module", "init_module", "finit_module"], "action": "SCMP_ACT_ALLOW",
                        "includes": {"caps": ["CAP_SYS_MODULE"]}}),
    ("cap_sys_pacct", {"names": ["acct"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PACCT"]}}),
    ("cap_sys_ptrace", {"names": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
                                  "ptrace"],
                        "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}}),
    ("cap_sys_rawio", {"names": ["iopl", "ioperm"], "action": "SCMP_ACT_ALLOW",
                       "includes": {"caps": ["CAP_SYS_RAWIO"]}}),
    ("cap_sys_time", {"names": ["settimeofday", "stime", "clock_settime"], "action": "SCMP_ACT_ALLOW",
                      "includes": {"caps": ["CAP_SYS_TIME"]}}),
    ("cap_sys_tty_config", {"names": ["vhangup"], "action": "SCMP_ACT_ALLOW",
                            "includes": {"caps": ["CAP_SYS_TTY_CONFIG"]}}),
    ("cap_sys_nice", {"names": ["get_mempolicy", "mbind", "set_mempolicy"], "action": "SCMP_ACT_ALLOW",
                      "includes": {"caps": ["CAP_SYS_NICE"]}}),
    ("cap_syslog", {"names": ["syslog"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}}),
)


# ---------------------------------------------------------------------------------------------------------------------
# Engine versions

# Where read_engine_version() asks when neither its argument nor $DOCKER_HOST names a daemon.
DOCKER_HOST = "unix:///var/run/docker.sock"
# Docker's version strings, with the suffixes distributions add: 26.1.5, 26.1.5+dfsg1, 24.0.7-0ubuntu2~22.04.1,
# 29.0.0-rc.1, v28.5.2. A pre-release counts as its release.
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~][0-9A-Za-z.+~:_-]*)?$")
# The patch level of a MAJOR.MINOR version: the newest patch release of that line.
_NEWEST_PATCH = 10**9
_OLDEST = (20, 10)


class EngineError(ValueError):
    """An engine version that is not one, that is not described, or that cannot be read from the daemon."""


def parse_version(text):
    """``"26.1.5+dfsg1"`` -> ``(26, 1, 5)``; ``"26.1"`` -> ``(26, 1, None)`` (the newest 26.1 patch release)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise EngineError("an engine version is a string such as \"26.1\" or \"26.1.5\", got %r" % (text,))
    match = _VERSION_RE.match(str(text).strip())
    if not match:
        raise EngineError("%r is not a Docker Engine version (expected MAJOR.MINOR[.PATCH], e.g. \"26.1\" or "
                          "\"26.1.5\")" % (text,))
    patch = match.group(3)
    return int(match.group(1)), int(match.group(2)), int(patch) if patch is not None else None


def format_version(version):
    """``(26, 1, 5)`` -> ``"26.1.5"``, ``(26, 1, None)`` -> ``"26.1"``."""
    if version[2] is None:
        return "%d.%d" % version[:2]
    return "%d.%d.%d" % version


def _key(version):
    return version[0], version[1], _NEWEST_PATCH if version[2] is None else version[2]


def _applies(change, version):
    """The release through which ``change`` reaches ``version`` (its line's first release with it, or the newest of
    its releases for a line it was not backported to), or None when ``version`` does not have it."""
    releases = [parse_version(release) for release in change.releases]
    own_line = [release for release in releases if release[:2] == version[:2]]
    first = own_line[0] if own_line else max(releases)
    return format_version(first) if _key(version) >= first else None


class Description:
    """Docker's default seccomp profile of one engine version, in groups.

    ``version``: the version described (``"26.1.5"``; ``"25.0"`` for the newest 25.0 patch release; the newest
    described version for an engine newer than that); ``engine``: the version asked for; ``changes``: the releases
    whose changes to 20.10.24's profile it has; ``warnings``: why the description may not be exactly the engine's.
    """

    def __init__(self, version, engine, changes, default_errno, arch_map, allow_groups, conditional_rules, warnings):
        self.version = version
        self.engine = engine
        self.changes = tuple(changes)
        self.default_action = DEFAULT_ACTION
        self.default_errno = default_errno
        self.arch_map = tuple(arch_map)
        self.allow_groups = {group: tuple(names) for group, names in allow_groups.items()}
        self.conditional_rules = tuple((group, copy.deepcopy(rule)) for group, rule in conditional_rules)
        self.warnings = tuple(warnings)

    def __repr__(self):
        return "Description(%r)" % self.version

    def group_names(self):
        """Every group of this description, allow-list topics first (an emptied group such as io_uring stays)."""
        names = list(self.allow_groups)
        for group, _rule in self.conditional_rules:
            if group not in names:
                names.append(group)
        return names

    def allow_list(self):
        """The unconditional allow-list as a sorted list."""
        return sorted(name for names in self.allow_groups.values() for name in names)

    def group_syscalls(self, group):
        """Every syscall a group names: its part of the allow-list and its conditional rules."""
        names = set(self.allow_groups.get(group, ()))
        for rule_group, rule in self.conditional_rules:
            if rule_group == group:
                names.update(rule["names"])
        return names


def _rules_of(rules, group, where):
    found = [index for index, (rule_group, _rule) in enumerate(rules) if rule_group == group]
    if len(found) != 1:
        raise ValueError("change %s: group %r has %d conditional rules, not one" % (where, group, len(found)))
    return rules[found[0]][1]


def _apply(change, allow, rules, arch_map):
    """Apply one change of _seccomp_docker_versions.CHANGES; a change that does not fit the data is an error."""
    where = change.releases[0]
    for group, names in change.remove.items():
        for name in names:
            if name not in allow.get(group, ()):
                raise ValueError("change %s: %s is not in group %r" % (where, name, group))
            allow[group].remove(name)
    present = {name for names in allow.values() for name in names}
    for group, names in change.add.items():
        for name in names:
            if name in present:
                raise ValueError("change %s: %s is in the allow-list already" % (where, name))
            present.add(name)
        allow.setdefault(group, []).extend(names)
    for group, names in change.remove_from_rule.items():
        rule = _rules_of(rules, group, where)
        for name in names:
            if name not in rule["names"]:
                raise ValueError("change %s: %s is not in the rule of group %r" % (where, name, group))
            rule["names"].remove(name)
    for group, names in change.add_to_rule.items():
        rule = _rules_of(rules, group, where)
        for name in names:
            if name in rule["names"]:
                raise ValueError("change %s: %s is in the rule of group %r already" % (where, name, group))
            rule["names"].append(name)
    for group, names in change.remove_rules:
        kept = [(g, r) for g, r in rules if not (g == group and sorted(r["names"]) == sorted(names))]
        if len(kept) == len(rules):
            raise ValueError("change %s: group %r has no rule for %s" % (where, group, ", ".join(names)))
        rules[:] = kept
    for after, group, rule in change.add_rules:
        position = len(rules)
        if after is not None:
            positions = [index for index, (g, _r) in enumerate(rules) if g == after]
            if not positions:
                raise ValueError("change %s: no group %r to place a rule after" % (where, after))
            position = positions[-1] + 1
        rules.insert(position, (group, copy.deepcopy(rule)))
    for arch, subs in change.add_arches:
        if arch in [entry[0] for entry in arch_map]:
            raise ValueError("change %s: %s is in the archMap already" % (where, arch))
        arch_map.append((arch, tuple(subs)))


@functools.cache
def _render(version):
    allow = {group: list(names) for group, names in ALLOW_GROUPS.items()}
    rules = [(group, copy.deepcopy(rule)) for group, rule in CONDITIONAL_RULES]
    arch_map = [(arch, tuple(subs)) for arch, subs in ARCH_MAP]
    default_errno = None
    changes = []
    for change in versions.CHANGES:
        release = _applies(change, version)
        if release is None:
            continue
        _apply(change, allow, rules, arch_map)
        if change.default_errno is not None:
            default_errno = change.default_errno
        if release not in changes:
            changes.append(release)
    return changes, default_errno, arch_map, allow, rules


def _patch_changes(line):
    """The releases of ``line`` after its first one that changed its default profile."""
    found = []
    for change in versions.CHANGES:
        for release in change.releases:
            parsed = parse_version(release)
            if parsed[:2] == line and parsed[2] and release not in found:
                found.append(release)
    return found


def description(engine=None):
    """Docker's default profile of ``engine`` (a version string or tuple; None: 20.10.24, the base description).

    Raises EngineError for an engine older than 20.10 or a version Docker never released. An engine newer than the
    newest one described gets that one's description with a warning; so does a 20.10 patch release before 20.10.24,
    and a MAJOR.MINOR version of a line whose patch releases changed the profile (it is read as the newest of them).
    """
    if engine is None:
        engine = versions.BASE
    asked = parse_version(format_version(engine) if isinstance(engine, tuple) else engine)
    shown = str(engine).strip() if not isinstance(engine, tuple) else format_version(asked)
    newest = parse_version(versions.NEWEST)
    first_after = parse_version(versions.FIRST_AFTER_BASE_LINE)
    if asked[:2] < _OLDEST:
        hint = "give the profile as content or start from base: empty"
        if asked == (20, 1, None):
            hint = 'for Docker 20.10 write engine: "20.10" in quotes (unquoted, YAML reads the number 20.1)'
        raise EngineError("Docker Engine %s is older than 20.10, the oldest engine whose default seccomp profile is "
                          "described; %s" % (shown, hint))
    if _OLDEST < asked[:2] < first_after[:2]:
        raise EngineError("Docker Engine %s is not a Docker release (20.10 was followed by %s)"
                          % (shown, versions.FIRST_AFTER_BASE_LINE))
    warnings = []
    version = asked
    if asked[:2] > newest[:2] or (asked[:2] == newest[:2] and asked[2] is not None and asked[2] > newest[2]):
        version = newest
        warnings.append("Docker Engine %s is newer than the newest engine whose default seccomp profile is "
                        "described (%s): the profile is %s's default, and Docker may have changed its default since"
                        % (shown, versions.NEWEST, versions.NEWEST))
    caveat = versions.PATCH_CAVEATS.get(asked[:2])
    if caveat and asked[2] is not None and asked[2] < caveat[0]:
        version = (*asked[:2], caveat[0])
        warnings.append("%s: the profile is %s's default" % (caveat[1], format_version(version)))
    if asked[2] is None:
        later = _patch_changes(asked[:2])
        if later:
            warnings.append("engine %s is read as the newest %s patch release: %s changed Docker's default profile; "
                            "give the full version (for example %s.0) for an earlier one"
                            % (shown, shown, ", ".join(later), format_version(asked)))
    changes, default_errno, arch_map, allow, rules = _render(version)
    return Description(format_version(version), format_version(asked), changes, default_errno, arch_map, allow, rules,
                       warnings)


def all_group_names():
    """Every group name any described engine has, in order (a drop_groups entry must be one of them)."""
    names = description().group_names()
    for change in versions.CHANGES:
        for group in [*change.add, *(rule[1] for rule in change.add_rules)]:
            if group not in names:
                names.append(group)
    return names


def described_names():
    """Every syscall name Docker's default profile of some described engine has."""
    names = {name for group in ALLOW_GROUPS.values() for name in group}
    names.update(name for _group, rule in CONDITIONAL_RULES for name in rule["names"])
    for change in versions.CHANGES:
        names.update(name for group in change.add.values() for name in group)
        names.update(name for group in change.add_to_rule.values() for name in group)
        names.update(name for _after, _group, rule in change.add_rules for name in rule["names"])
    return frozenset(names)


def group_names(engine=None):
    """Every group name of ``engine``'s description (20.10.24's by default), allow-list topics first."""
    return description(engine).group_names()


def allow_list(engine=None):
    """The unconditional allow-list of ``engine``'s description (20.10.24's by default) as a sorted list."""
    return description(engine).allow_list()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def read_engine_version(host=None, timeout=10.0):
    """The version the Docker daemon at ``host`` reports (``Version`` of ``GET /version``), for example
    ``"20.10.24+dfsg1"``.

    ``host`` defaults to ``$DOCKER_HOST``, then to the local socket ``unix:///var/run/docker.sock``. Only local
    sockets are asked. The API needs no matching client: ``/version`` answers whatever API version a client speaks.
    Raises EngineError saying what went wrong.
    """
    host = host or os.environ.get("DOCKER_HOST") or DOCKER_HOST
    hint = "give engine: (the Docker Engine version the profile is for) to generate it without asking the daemon"
    if not host.startswith("unix://"):
        raise EngineError("cannot read the Docker Engine version from %s: only a local daemon (unix://) is asked; %s"
                          % (host, hint))
    connection = _UnixHTTPConnection(host[len("unix://"):], timeout)
    try:
        connection.request("GET", "/version", headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EngineError("cannot read the Docker Engine version from %s (%s): is dockerd running? %s"
                          % (host, exc, hint)) from exc
    finally:
        connection.close()
    if response.status != 200:
        raise EngineError("the Docker daemon at %s answered GET /version with HTTP %d: %s"
                          % (host, response.status, body[:200].decode("utf-8", "replace").strip()))
    try:
        version = json.loads(body.decode("utf-8"))["Version"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise EngineError("the Docker daemon at %s did not report its version (GET /version: %r)"
                          % (host, body[:200])) from exc
    if not isinstance(version, str) or not version:
        raise EngineError("the Docker daemon at %s reported no version (GET /version: %r)" % (host, body[:200]))
    return version
