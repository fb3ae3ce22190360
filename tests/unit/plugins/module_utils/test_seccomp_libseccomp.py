"""Unit tests for the ctypes binding to the host's libseccomp (the real library: Debian's libseccomp2)."""

from __future__ import annotations

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _libseccomp as ls
from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker as dd


@pytest.fixture(scope="module")
def lib():
    return ls.load()


@pytest.mark.parametrize(
    ("name", "arch", "number"),
    [
        ("read", "SCMP_ARCH_X86_64", 0),
        ("mkdir", "SCMP_ARCH_X86_64", 83),
        ("mkdirat", "x86_64", 258),
        ("clone3", "amd64", 435),
        ("read", "SCMP_ARCH_X86", 3),
        ("chown32", "SCMP_ARCH_X86", 212),
        ("read", "SCMP_ARCH_AARCH64", 63),
    ],
)
def test_resolve_name_and_number(lib, name, arch, number):
    assert lib.resolve_name(name, arch) == number
    assert lib.resolve_num(number, arch) == name
    assert lib.exists(name, arch)


@pytest.mark.parametrize(
    ("name", "arch"),
    [
        ("mkdri", "SCMP_ARCH_X86_64"),  # a typo: unknown everywhere
        ("chown32", "SCMP_ARCH_X86_64"),  # exists on x86 only
        ("mkdir", "SCMP_ARCH_AARCH64"),  # arm64 has mkdirat only
        ("caf\u00e9", "SCMP_ARCH_X86_64"),
    ],
)
def test_not_a_syscall_on_arch(lib, name, arch):
    assert not lib.exists(name, arch)


def test_multiplexed_socket_calls_exist_on_x86(lib):
    assert lib.resolve_name("socket", "SCMP_ARCH_X86") < 0
    assert lib.exists("socket", "SCMP_ARCH_X86")


def test_arch_tokens_and_native(lib):
    assert lib.arch_token("SCMP_ARCH_X86_64") == 0xC000003E  # AUDIT_ARCH_X86_64
    assert lib.native_arch() in ls.SCMP_ARCHES
    with pytest.raises(ls.LibseccompError, match="unknown architecture"):
        lib.arch_token("SCMP_ARCH_VAX")
    assert lib.version.count(".") == 2


def test_syscall_table(lib):
    table = lib.syscall_table("SCMP_ARCH_X86_64", limit=64)
    assert table[0] == "read" and table[60] == "exit" and len(table) == 64


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(ls.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ls.LibseccompError, match="libseccomp is not installed on this host"):
        ls.Libseccomp(names=("libseccomp-does-not-exist.so.9",))


@pytest.mark.parametrize(
    ("given", "expected"),
    [("x86_64", "SCMP_ARCH_X86_64"), ("amd64", "SCMP_ARCH_X86_64"), ("SCMP_ARCH_X86", "SCMP_ARCH_X86"),
     ("arm64", "SCMP_ARCH_AARCH64"), ("i386", "SCMP_ARCH_X86")],
)
def test_scmp_arch(given, expected):
    assert ls.scmp_arch(given) == expected


def test_docker_default_names_all_exist(lib):
    """Every name in the Docker-default data is a syscall libseccomp knows (no hand-kept table)."""
    sc.check_syscall_names(sc.docker_default_profile(), lib)


@pytest.mark.parametrize("engine", ["23.0.18", "24.0.9", "25.0.17", "26.1.5", "28.1.1", "28.5.2", "29.7.2"])
def test_docker_default_names_of_newer_engines(lib, engine):
    """The names of later engines are syscalls too: the host's libseccomp knows them all, but for those newer than
    it (libseccomp 2.6 added the kernel 6.8-6.13 calls Docker 28.2 allows), which are accepted and reported."""
    profile = sc.docker_default_profile(engine)
    sc.check_syscall_names(profile, lib)
    newer_than_2_5 = {"getxattrat", "listmount", "listxattrat", "lsm_get_self_attr", "lsm_list_modules",
                      "lsm_set_self_attr", "mseal", "removexattrat", "riscv_hwprobe", "setxattrat", "statmount",
                      "uretprobe"}
    gaps = set(sc.libseccomp_gaps(profile, lib))
    assert gaps <= newer_than_2_5
    if lib.version.startswith("2.5."):
        assert gaps == (newer_than_2_5 if dd.parse_version(engine) >= (28, 2, 0) else set())
