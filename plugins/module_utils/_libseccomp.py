# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Syscall names and numbers from the host's libseccomp (``libseccomp.so.2``) through ctypes.

The syscall tables are libseccomp's own, the same ones runc uses when it loads a profile, so a name this module does
not know is a name the container runtime would not know either. Plain Python, no Ansible imports.
"""

from __future__ import annotations

import ctypes
import ctypes.util

LIBRARY_NAMES = ("libseccomp.so.2", "libseccomp.so")

# Docker/OCI architecture names (SCMP_ARCH_*) and the names libseccomp's seccomp_arch_resolve_name() takes.
SCMP_ARCHES = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64",
}

# __NR_SCMP_ERROR: the name is unknown. Multiplexed calls (socketcall/ipc on x86, s390, ...) resolve to small negative
# numbers; names libseccomp knows but that do not exist on the asked architecture resolve to __PNR_* (<= -10000).
NR_SCMP_ERROR = -1
PSEUDO_BASE = -10000


class LibseccompError(RuntimeError):
    """libseccomp is not available or refused a request."""


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def scmp_arch(name):
    """Normalise an architecture given as ``SCMP_ARCH_X86_64``, ``x86_64`` or ``amd64`` to the SCMP_ARCH_* form."""
    if not isinstance(name, str) or not name:
        raise LibseccompError("architecture must be a non-empty string, got %r" % (name,))
    upper = name.upper()
    if upper in SCMP_ARCHES:
        return upper
    aliases = {"AMD64": "X86_64", "386": "X86", "I386": "X86", "I686": "X86", "ARM64": "AARCH64"}
    candidate = "SCMP_ARCH_" + aliases.get(upper, upper)
    if candidate in SCMP_ARCHES:
        return candidate
    raise LibseccompError("unknown architecture %r (use SCMP_ARCH_* names such as SCMP_ARCH_X86_64)" % name)


class Libseccomp:
    """A loaded libseccomp. ``Libseccomp()`` raises LibseccompError with a clear message when it is missing."""

    def __init__(self, names=LIBRARY_NAMES):
        self._lib = None
        errors = []
        candidates = list(names)
        found = ctypes.util.find_library("seccomp")
        if found and found not in candidates:
            candidates.append(found)
        for name in candidates:
            try:
                self._lib = ctypes.CDLL(name)
                self.soname = name
                break
            except OSError as exc:
                errors.append(str(exc))
        if self._lib is None:
            raise LibseccompError(
                "libseccomp is not installed on this host (%s); install libseccomp2 (Debian/Ubuntu) or libseccomp "
                "(RHEL/Fedora) to check syscall names, or set validate to false" % "; ".join(errors)
            )
        lib = self._lib
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
        lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_native.argtypes = []
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_version.argtypes = []
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        self._libc = ctypes.CDLL(None)
        self._libc.free.argtypes = [ctypes.c_void_p]
        self._libc.free.restype = None
        self._tokens = {}

    @property
    def version(self):
        ver = self._lib.seccomp_version().contents
        return "%d.%d.%d" % (ver.major, ver.minor, ver.micro)

    def arch_token(self, arch):
        """libseccomp's token (AUDIT_ARCH_* value) for an architecture name; LibseccompError when unknown."""
        arch = scmp_arch(arch)
        token = self._tokens.get(arch)
        if token is None:
            token = self._lib.seccomp_arch_resolve_name(SCMP_ARCHES[arch].encode("ascii"))
            if not token:
                raise LibseccompError("libseccomp %s does not know architecture %s" % (self.version, arch))
            self._tokens[arch] = token
        return token

    def known_arch(self, arch):
        try:
            self.arch_token(arch)
        except LibseccompError:
            return False
        return True

    def native_arch(self):
        """The host's architecture as SCMP_ARCH_* (from seccomp_arch_native)."""
        token = self._lib.seccomp_arch_native()
        for arch in SCMP_ARCHES:
            if self.known_arch(arch) and self.arch_token(arch) == token:
                return arch
        raise LibseccompError("libseccomp reports an unknown native architecture token %#x" % token)

    def resolve_name(self, name, arch):
        """The syscall number of ``name`` on ``arch`` (negative when it is multiplexed or absent), None if unknown."""
        try:
            raw = name.encode("ascii")
        except UnicodeEncodeError:
            return None
        number = self._lib.seccomp_syscall_resolve_name_arch(self.arch_token(arch), raw)
        return None if number == NR_SCMP_ERROR else number

    def exists(self, name, arch):
        """True when ``name`` is a syscall of ``arch`` (a direct number or a multiplexed socketcall/ipc call)."""
        number = self.resolve_name(name, arch)
        return number is not None and number > PSEUDO_BASE

    def resolve_num(self, number, arch):
        """The syscall name of ``number`` on ``arch``, or None."""
        pointer = self._lib.seccomp_syscall_resolve_num_arch(self.arch_token(arch), int(number))
        if not pointer:
            return None
        try:
            return ctypes.string_at(pointer).decode("ascii")
        finally:
            self._libc.free(pointer)

    def syscall_table(self, arch, limit=1024):
        """``{number: name}`` for every syscall number libseccomp knows on ``arch`` below ``limit``."""
        table = {}
        for number in range(limit):
            name = self.resolve_num(number, arch)
            if name is not None:
                table[number] = name
        return table


_CACHE = {}


def load():
    """A shared Libseccomp instance (raises LibseccompError when the library is missing)."""
    if "lib" not in _CACHE:
        _CACHE["lib"] = Libseccomp()
    return _CACHE["lib"]
