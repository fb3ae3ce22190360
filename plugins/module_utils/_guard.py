# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guard: what widening must never admit on its own, judged by what a rule covers.

The container under trial is not trusted. Every rule widening would add - after generalisation - is judged here by
the paths it can match (``_aare.intersects``), not by the example that produced it:

- :data:`SENSITIVE` is one table of path scopes, each with the permissions that make a *glob* reaching into it a
  refusal, the permissions that make a *literal* path inside it a refusal, the reason, and the exceptions that stay
  admissible (``/dev/null``, ``/dev/shm/**``, a process's own ``oom_score_adj``). A glob is refused when it can match
  any path of a scope with one of the scope's glob permissions, unless it lies inside an exception; so a glob whose
  fixed prefix is ``/etc/``, ``/dev/``, ``/usr/bin/``, ``/proc/`` ... is never admitted for write, link, lock, exec
  or mmap-exec, and widening narrows it to the literal names seen, which are judged again.
- Capabilities, raw and packet sockets, signals and ptrace across profiles, mount, and the syscalls Docker's default
  seccomp profile blocks have their reasons here too.

Permissions are the characters ``r w a l k m x`` (any exec mode counts as ``x``).
Plain Python, no Ansible imports.
"""

from __future__ import annotations

from ansible_collections.confine.docker.plugins.module_utils import _aare, _seccomp

PERMS = "rwalkmx"
MODIFY = "walkmx"  # write, append, link, lock, exec, mmap-exec: what makes a path an attack surface
EXEC = "mx"


class Sensitive:
    """One entry of the table: ``scope`` (a pattern), the permissions that refuse a glob (``glob_perms``) and a
    literal path (``literal_perms``) in it, the ``reason``, and ``allow``: ``(pattern, perms)`` exceptions."""

    __slots__ = ("allow", "glob_perms", "literal_perms", "reason", "scope")

    def __init__(self, scope, glob_perms, literal_perms, reason, allow=()):
        self.scope = scope
        self.glob_perms = frozenset(glob_perms)
        self.literal_perms = frozenset(literal_perms)
        self.reason = reason
        self.allow = tuple((pattern, frozenset(perms)) for pattern, perms in allow)

    def __repr__(self):
        return "Sensitive(%r)" % self.scope


SHELLS = "/{usr/,}{,s}bin/{sh,dash,bash,rbash,zsh,ksh,ksh93,mksh,csh,tcsh,fish,ash,busybox,static-sh}"
RELAYS = "/{usr/,}{,s}bin/{nc,ncat,netcat,nc.openbsd,nc.traditional,socat,telnet}"
SHELL_REASON = "starts a shell: what an exploit does first"
RELAY_REASON = "starts a network relay: what an exploit uses for a reverse shell"
WORLD_WRITABLE = "/{tmp,var/tmp,dev/shm,run/shm,run/lock,var/lock,var/crash}/**"

# Specific entries come first: the first entry that refuses gives the reason shown.
SENSITIVE = (
    # Credentials, accounts and privilege.
    Sensitive("/etc/{shadow,gshadow,shadow-,gshadow-}", "rwalkmx", "rwalkmx", "password hashes"),
    Sensitive("/etc/{passwd,group,passwd-,group-,subuid,subgid}", MODIFY, MODIFY, "adds or changes accounts"),
    Sensitive("/etc/{sudoers,sudoers.d/**,doas.conf}", MODIFY, MODIFY, "grants root"),
    Sensitive("/etc/ld.so.{preload,conf,conf.d/**}", MODIFY, MODIFY, "injects code into every process"),
    Sensitive("/etc/{cron*,cron*/**,anacrontab}", MODIFY, MODIFY, "persistence through cron"),
    Sensitive("/etc/{pam.d,security}/**", MODIFY, MODIFY, "changes how logins are authenticated"),
    Sensitive("/etc/{profile,profile.d/**,environment,bash.bashrc,zsh/**}", MODIFY, MODIFY,
              "runs in every login shell"),
    Sensitive("/etc/ssh/**", MODIFY, MODIFY, "SSH server keys and configuration"),
    Sensitive("/etc/**", MODIFY, MODIFY,
              "system configuration under /etc (accounts, authentication, the loader, services)"),
    Sensitive("/boot/**", MODIFY, MODIFY, "the kernel and the boot loader"),
    Sensitive("/root/.ssh/**", MODIFY, MODIFY, "root's SSH keys: persistence"),
    Sensitive("/root/**", MODIFY, MODIFY, "root's home: start-up files and tools there run as root later"),
    Sensitive("/home/*/{.ssh/**,.bashrc,.profile,.bash_profile,.bash_login,.zshrc,.zprofile,.pam_environment,"
              ".config/autostart/**,.config/systemd/**}", MODIFY, MODIFY,
              "a user's SSH keys or shell start-up files: persistence"),
    # Exec: shells, relays, and anything from a world-writable directory.
    Sensitive(SHELLS, "x", "x", SHELL_REASON),
    Sensitive(RELAYS, "x", "x", RELAY_REASON),
    Sensitive(WORLD_WRITABLE, EXEC, EXEC,
              "executes or maps as code a file in a world-writable directory: where droppers put their payloads"),
    # System binaries and libraries: existing ones may be executed (literally), nothing may be written.
    Sensitive("/{usr,bin,sbin,lib,lib32,lib64,libx32}/**", MODIFY, "walk",
              "system binaries and libraries (a glob may not cover them for exec either)"),
    # Devices.
    Sensitive("/dev/{mem,kmem,port}", "rwalkmx", "rwalkmx", "physical or kernel memory, I/O ports"),
    Sensitive("/dev/{sd,hd,vd,xvd,nvme,mmcblk,loop,dm-,md,nbd,sg}*", "rwalkmx", "rwalkmx", "raw disk"),
    Sensitive("/dev/**", MODIFY, MODIFY, "device nodes",
              allow=(
                  ("/dev/{null,zero,full,random,urandom,tty,console,ptmx,stdin,stdout,stderr,termination-log}",
                   "rwak"),
                  ("/dev/pts/**", "rwak"),
                  ("/dev/fd/**", "rwak"),
                  ("/dev/shm/**", "rwalk"),
                  ("/dev/mqueue/**", "rwalk"),
              )),
    # Kernel interfaces.
    Sensitive("/proc/sys/**", MODIFY, MODIFY, "writes kernel settings under /proc/sys"),
    Sensitive("/proc/sysrq-trigger", "rwalkmx", "rwalkmx", "triggers SysRq actions on the host"),
    Sensitive("/proc/{kcore,kmem,mem}", "rwalkmx", "rwalkmx", "kernel memory"),
    Sensitive("/proc/@{pid}/{mem,task/@{tid}/mem}", "rwalkmx", "rwalkmx", "another process's memory"),
    Sensitive("/proc/@{pid}/{attr/**,task/@{tid}/attr/**}", MODIFY, MODIFY, "changes a process's security label"),
    Sensitive("/proc/**", MODIFY, MODIFY, "kernel and process interfaces under /proc",
              allow=(
                  ("/proc/@{pid}/{oom_score_adj,oom_adj,comm,coredump_filter,timerslack_ns,autogroup}", "wa"),
                  ("/proc/@{pid}/task/@{tid}/comm", "wa"),
              )),
    Sensitive("/sys/**", MODIFY, MODIFY, "kernel and device settings under /sys"),
    # Host services and the container engine.
    # Connecting to a socket needs write; reading its file is harmless.
    Sensitive("/{,var/}run/{docker,containerd,podman,crio,dockershim,buildkitd}.sock", MODIFY, MODIFY,
              "a container engine's socket: root on the host"),
    Sensitive("/{,var/}run/{docker,containerd,systemd,dbus,user,udev,crio,podman,libpod,buildkit}/**", MODIFY,
              MODIFY, "sockets and state of host services and the container engine"),
    Sensitive("/{,var/}run/*", MODIFY, "", "the run directory, where host services keep their sockets: no glob "
              "may cover its names"),
    Sensitive("/var/lib/{docker,containerd}/**", MODIFY, MODIFY, "the container engine's state"),
    Sensitive("/var/spool/{cron,anacron,at}/**", MODIFY, MODIFY, "persistence through cron and at"),
    # A glob over the names directly under / covers the system directories themselves.
    Sensitive("/*", MODIFY, "", "a glob over the names directly under /"),
)


def perm_set(perms):
    """``"mrix"`` / ``"wk"`` / ``"px"`` -> ``{"m", "r", "x"}`` ...: exec modes count as ``x``."""
    chars = set()
    for char in perms or "":
        if char in "rwalkmx":
            chars.add(char)
    return chars


def _allowed(entry, tokens, literal, hit):
    for pattern, perms in entry.allow:
        if not hit <= perms:
            continue
        if literal is not None:
            if _aare.matches(pattern, literal):
                return True
        elif any(_aare.tokens_contained(tokens, outer) for outer in _aare.alternatives(pattern, "none")):
            return True
    return False


def judge_path(pattern, perms):
    """``(reason, entry)`` when a rule ``pattern perms`` could touch a sensitive path, else ``(None, None)``.

    Every alternative of the pattern is judged: a literal one by the scope it lies in, a glob by every scope it could
    reach. Unknown variables count as matching anything.
    """
    wanted = perm_set(perms)
    try:
        alternatives = _aare.alternatives(pattern, "any")
    except _aare.PatternError as exc:
        return "the pattern is not valid: %s" % exc, None
    for tokens in alternatives:
        literal = _aare.literal_text(tokens)
        for entry in SENSITIVE:
            hit = wanted & (entry.literal_perms if literal is not None else entry.glob_perms)
            if not hit:
                continue
            if literal is not None:
                if not _aare.matches(entry.scope, literal, "none"):
                    continue
            elif not any(_aare.tokens_intersect(tokens, scope) for scope in _aare.alternatives(entry.scope, "none")):
                continue
            if _allowed(entry, tokens, literal, hit):
                continue
            shown = "".join(p for p in PERMS if p in hit)
            if literal is not None:
                return "%s %s: %s" % (literal, shown, entry.reason), entry
            return "the glob %s could match %s with %s: %s" % (pattern, entry.scope, shown, entry.reason), entry
    return None, None


# ----------------------------------------------------------------------------------------------------- capabilities

CAPABILITY_REASONS = {
    "sys_admin": "nearly root over the kernel (mount, namespaces, ...)",
    "sys_module": "loads kernel modules",
    "sys_ptrace": "traces any process",
    "sys_rawio": "raw I/O to devices and memory",
    "sys_boot": "reboots the host",
    "sys_time": "sets the host clock",
    "mac_admin": "changes the MAC policy",
    "mac_override": "overrides the MAC policy",
    "dac_read_search": "bypasses file read permission checks (open_by_handle_at escape)",
    "bpf": "loads eBPF programs",
    "perfmon": "kernel profiling",
    "syslog": "reads the kernel log",
    "audit_control": "changes the audit configuration",
    "audit_read": "reads the audit log of the host",
    "net_admin": "reconfigures networking",
    "linux_immutable": "changes immutable file flags",
    "mknod": "creates device nodes: raw access to disks and memory",
}


def judge_capability(name):
    reason = CAPABILITY_REASONS.get(name)
    return "capability %s: %s" % (name, reason) if reason else None


# ---------------------------------------------------------------------------------------------------------- network

RAW_FAMILIES = ("inet", "inet6")


def judge_network(family, sock_type):
    if family == "packet":
        return "packet sockets (network packet): sniffing and spoofing on the host's networks"
    if family in RAW_FAMILIES and sock_type == "raw":
        return "raw %s sockets: spoofing and sniffing" % family
    return None


# --------------------------------------------------------------------------------------------- signals and ptrace


def judge_signal(access, peer, own):
    if peer == own or peer.startswith(own + "//"):
        return None
    if access == "send":
        return "signals to processes outside the container's profile (peer %s)" % peer
    return None


def judge_ptrace(peer, own):
    if peer == own or peer.startswith(own + "//"):
        return None
    return "ptrace of another profile (peer %s): reads and rewrites other processes" % peer


MOUNT_REASON = "mount operations: a container escape primitive"
TRANSITION_REASON = "changes its own AppArmor confinement (change_profile/change_onexec): leaves the profile"
USERNS_REASON = "creates user namespaces: the first step of many container escapes"

# ---------------------------------------------------------------------------------------------------------- seccomp

# Syscalls Docker's default profile keeps from a container with default capabilities (_seccomp.DANGEROUS) and a few
# more that mostly serve to escape or spy: the reason says what an attacker gets.
SECCOMP_REASONS = {
    "mount": "mounts file systems: a container escape primitive",
    "umount": "unmounts file systems",
    "umount2": "unmounts file systems",
    "pivot_root": "changes the root file system",
    "unshare": "creates namespaces: the first step of many container escapes",
    "setns": "joins other namespaces",
    "kexec_load": "loads a new kernel",
    "kexec_file_load": "loads a new kernel",
    "init_module": "loads kernel modules",
    "finit_module": "loads kernel modules",
    "delete_module": "unloads kernel modules",
    "bpf": "loads eBPF programs into the kernel",
    "keyctl": "reaches the kernel keyring, which is not namespaced",
    "add_key": "reaches the kernel keyring, which is not namespaced",
    "request_key": "reaches the kernel keyring, which is not namespaced",
    "ptrace": "traces and rewrites other processes",
    "process_vm_readv": "reads other processes' memory",
    "process_vm_writev": "writes other processes' memory",
    "reboot": "reboots the host",
    "perf_event_open": "kernel profiling: a frequent kernel-exploit vector",
    "userfaultfd": "a frequent kernel-exploit aid",
    "open_by_handle_at": "opens host files by handle (the 'shocker' escape)",
    "name_to_handle_at": "file handles, used with open_by_handle_at to escape",
    "syslog": "reads and clears the kernel log",
}
SECCOMP_GUARD = frozenset(_seccomp.DANGEROUS | set(SECCOMP_REASONS))
SECCOMP_DEFAULT_REASON = "blocked by Docker's default seccomp profile for containers with default capabilities"


def judge_syscall(name):
    if name in SECCOMP_GUARD:
        return "%s: %s" % (name, SECCOMP_REASONS.get(name, SECCOMP_DEFAULT_REASON))
    return None
