# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How Docker's built-in default seccomp profile changed after Engine 20.10.24, as data.

``_seccomp_docker.py`` describes Docker Engine 20.10.24's default profile in named groups. Each entry of ``CHANGES``
below is one change Docker made to it later, in the same groups, with the releases that first shipped it: the
release on the main line and, for a change backported to an older release line, the first patch release of that
line. ``_seccomp_docker.description(version)`` applies, in order, every change a version has. Rendered, the result
must equal Moby's published ``default.json`` of that version, rule set by rule set:
``tests/unit/plugins/module_utils/test_seccomp_docker_versions.py`` checks that for every version in
``CHECKED_AGAINST``, and ``tests/integration/test_seccomp_probe.py`` against a running engine, syscall by syscall.

A change has a ``note`` (what and where from) and any of:

- ``add`` / ``remove``: names joining or leaving the unconditional allow-list, per group;
- ``add_to_rule`` / ``remove_from_rule``: names joining or leaving the one conditional rule of a group;
- ``add_rules``: ``(after, group, rule)`` - a conditional rule of ``group``, placed after the last rule of the group
  ``after`` (or at the end when it is None);
- ``remove_rules``: ``(group, names)`` - the conditional rules of ``group`` that name exactly ``names``;
- ``default_errno``: the profile's ``defaultErrnoRet``;
- ``add_arches``: ``(architecture, sub-architectures)`` entries appended to the archMap.

An errno change is a conditional rule replaced (``remove_rules`` + ``add_rules``), the way 29.4.2 answered
``socketcall`` with ENOSYS and 29.4.3 took that back.

Plain Python data, no Ansible imports.
"""

from __future__ import annotations

from collections import namedtuple

# The Docker release whose default profile _seccomp_docker.py describes in full; later ones are changes to it.
BASE = "20.10.24"
# Every version whose published default.json the unit tests compare the description with (reference data, read
# from /work/shared/reference/docker-seccomp/ or $CONFINE_DOCKER_SECCOMP_REFERENCE). The newest one is also the
# newest engine the description claims to know: a newer engine gets its description and a warning.
CHECKED_AGAINST = (
    "20.10.24",
    "23.0.18",
    "24.0.9",
    "25.0.0",
    "25.0.17",
    "26.1.5",
    "27.5.1",
    "28.1.1",
    "28.5.2",
    "29.7.2",
)
NEWEST = CHECKED_AGAINST[-1]
# Docker Engine release lines after 20.10 (21 and 22 were never released; 22.06 betas became 23.0).
FIRST_AFTER_BASE_LINE = "23.0"

Change = namedtuple(
    "Change",
    "releases note add remove add_to_rule remove_from_rule add_rules remove_rules default_errno add_arches",
)


def _change(releases, note, add=None, remove=None, add_to_rule=None, remove_from_rule=None, add_rules=(),
            remove_rules=(), default_errno=None, add_arches=()):
    if isinstance(releases, str):
        releases = (releases,)
    return Change(tuple(releases), note, add or {}, remove or {}, add_to_rule or {}, remove_from_rule or {},
                  tuple(add_rules), tuple(remove_rules), default_errno, tuple(add_arches))


def _socket_rule(op, value):
    return {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": value, "op": op}]}


AF_ALG = 38
AF_VSOCK = 40

CHANGES = (
    _change(
        "23.0.0",
        "23.0.0 (release notes, Security): explicit defaultErrnoRet (moby/moby#42649); riscv64 (#43553); socket() "
        "refuses AF_VSOCK (#44563); process_vm_readv/writev allowed from kernel 4.8 (#42083); the pkey_* calls "
        "(#43812); clock_settime64 with CAP_SYS_TIME (#43775); bpf with CAP_BPF and perf_event_open with "
        "CAP_PERFMON (#43988); swapcontext on ppc64le (#43092, merged for 23.0)",
        default_errno=1,
        add_arches=(("SCMP_ARCH_RISCV64", ()),),
        add={"memory": ("pkey_alloc", "pkey_free", "pkey_mprotect")},
        remove={"network": ("socket",)},
        add_to_rule={
            "ptrace_min_kernel": ("process_vm_readv", "process_vm_writev"),
            "arch_ppc64le": ("swapcontext",),
            "cap_sys_time": ("clock_settime64",),
        },
        add_rules=(
            ("ptrace_min_kernel", "network", _socket_rule("SCMP_CMP_NE", AF_VSOCK)),
            ("arch_s390", "arch_riscv64", {"names": ["riscv_flush_icache"], "action": "SCMP_ACT_ALLOW",
                                           "includes": {"arches": ["riscv64"]}}),
            (None, "cap_bpf", {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}}),
            (None, "cap_perfmon", {"names": ["perf_event_open"], "action": "SCMP_ACT_ALLOW",
                                   "includes": {"caps": ["CAP_PERFMON"]}}),
        ),
    ),
    _change(
        # 24.0.3 is in the release notes (moby/moby#45833). The 20.10 (#45835) and 23.0 (#45834) backports merged
        # in June 2023, after 20.10.24 and 23.0.6, the last releases Docker's notes list for those lines: the first
        # release of each line after that is given. 23.0.18 and 24.0.9 have it (reference data).
        ("25.0.0", "24.0.3", "23.0.7", "20.10.25"),
        "name_to_handle_at no longer needs CAP_SYS_ADMIN (moby/moby#45766, #45837)",
        add={"file_metadata": ("name_to_handle_at",)},
        remove_from_rule={"cap_sys_admin": ("name_to_handle_at",)},
    ),
    _change(
        "25.0.0",
        "25.0.0: io_uring removed from the default allow-list (moby/moby#46762)",
        remove={"io_uring": ("io_uring_enter", "io_uring_register", "io_uring_setup")},
    ),
    _change(
        ("25.0.3", "23.0.10"),
        "25.0.3 and 23.0.10: syscalls of kernels 5.17 to 6.7 (moby/moby#47341, #47346)",
        add={
            "threads": ("futex_requeue", "futex_wait", "futex_wake"),
            "memory": ("map_shadow_stack",),
            "file_io": ("cachestat",),
            "file_metadata": ("fchmodat2",),
        },
        add_to_rule={"cap_sys_nice": ("set_mempolicy_home_node",)},
    ),
    _change(
        "28.2.0",
        "28.2.0: syscalls of kernels 6.8 to 6.13, libseccomp 2.6.0 (moby/moby#50077); lsm_* behind CAP_SYS_ADMIN "
        "(#50097)",
        add={
            "xattr": ("getxattrat", "listxattrat", "removexattrat", "setxattrat"),
            "file_metadata": ("listmount", "statmount"),
            "memory": ("mseal",),
            "process": ("riscv_hwprobe", "uretprobe"),
        },
        add_to_rule={"cap_sys_admin": ("lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr")},
    ),
    _change(
        "29.4.2",
        "29.4.2: socket() refuses AF_ALG as well as AF_VSOCK (CVE-2026-31431, moby/moby#52494, #52501) and "
        "socketcall is answered with ENOSYS (moby/profiles#21); moby/profiles/seccomp v0.2 adds loong64",
        remove={"network": ("socketcall",)},
        remove_rules=(("network", ("socket",)),),
        add_rules=(
            ("ptrace_min_kernel", "network", {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
            ("network", "network", _socket_rule("SCMP_CMP_LT", AF_ALG)),
            ("network", "network", _socket_rule("SCMP_CMP_EQ", AF_ALG + 1)),
            ("network", "network", _socket_rule("SCMP_CMP_GT", AF_VSOCK)),
        ),
        add_arches=(("SCMP_ARCH_LOONGARCH64", ()),),
    ),
    _change(
        "29.4.3",
        "29.4.3: socketcall allowed again, AF_ALG is refused through AppArmor/SELinux instead (moby/moby#52547)",
        add={"network": ("socketcall",)},
        remove_rules=(("network", ("socketcall",)),),
    ),
)

# Release lines whose patch releases before the described one differ in ways this description does not follow.
PATCH_CAVEATS = {
    (20, 10): (
        24,
        "Docker 20.10 patch releases before 20.10.24 differ a little from it (20.10.18 added the landlock calls and "
        "those of kernels 5.12 to 5.16; 20.10.22 refused AF_VSOCK sockets)",
    ),
}
