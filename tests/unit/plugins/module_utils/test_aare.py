"""Unit tests for _aare: AppArmor path patterns - matching, intersection, containment, escaping, malformed text."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _aare

PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/tmp/*", "/tmp/a", True),
        ("/tmp/*", "/tmp/", False),  # right after "/" a star matches at least one character
        ("/tmp/*", "/tmp/a/b", False),
        ("/tmp/**", "/tmp/a/b", True),
        ("/tmp/**", "/tmp/", False),
        ("/tmp/a*", "/tmp/a", True),  # not after "/": zero characters are fine
        ("/var/log/worker-[0-9]*.log", "/var/log/worker-17.log", True),
        ("/var/log/worker-[0-9]*.log", "/var/log/worker-.log", False),
        ("/dev/[^s]*", "/dev/sda", False),
        ("/dev/[^s]*", "/dev/null", True),
        ("/x/?", "/x/a", True),
        ("/x/?", "/x/ab", False),
        ("/x/?", "/x//", False),
        ("/{,var/}run/docker.sock", "/var/run/docker.sock", True),
        ("/{,var/}run/docker.sock", "/run/docker.sock", True),
        ("/{a,{b,c}d}/x", "/cd/x", True),
        ("@{PROC}/@{pid}/status", "/proc/3101/status", True),
        ("@{PROC}/@{pid}/status", "/proc/self/status", False),
        ("@{PROC}/@{pid}/status", "/proc/0/status", False),
        ("@{NOSUCH}/x", "/x", False),
        ("/tmp/a\\*b", "/tmp/a*b", True),
        ("/tmp/a\\*b", "/tmp/axb", False),
        ("/tmp/a\\040b", "/tmp/a b", True),
        ("/tmp/\\303\\251", "/tmp/\u00e9", True),
        ("/tmp/[a-c]x", "/tmp/bx", True),
        ("/tmp/[a-c]x", "/tmp/dx", False),
    ],
)
def test_matches(pattern, path, expected):
    assert _aare.matches(pattern, path) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("/etc/*", "/etc/shadow", True),
        ("/etc/*", "/etc/ssl/x", False),
        ("/etc/**", "/etc/ssl/x", True),
        ("/**", "/etc/shadow", True),
        ("/*/shadow", "/etc/shadow", True),
        ("/e?c/shadow", "/etc/shadow", True),
        ("/e[a-s]c/shadow", "/etc/shadow", False),
        ("/e[^x]c/shadow", "/etc/shadow", True),
        ("/{var,usr}/lib/*", "/etc/**", False),
        ("/{var,etc}/lib/*", "/etc/**", True),
        ("/run/docker.*", "/{,var/}run/docker.sock", True),
        ("/run/app/*.sock", "/{,var/}run/docker.sock", False),
        ("/var/lib/app/**", "/var/lib/app/*.db", True),
        ("/var/lib/app/**", "/var/lib/other/*.db", False),
        ("@{PROC}/@{pid}/oom_score_adj", "/proc/**", True),
        ("@{PROC}/@{pid}/oom_score_adj", "/proc/sys/**", False),
        ("/tmp/a\\*", "/tmp/ab", False),
        ("/tmp/a\\*", "/tmp/a?", True),
        ("/x/[0-9]*", "/x/[a-z]*", False),
        ("/x/[0-9]*", "/x/[a-z0-9]*", True),
        ("/x/**/y", "/x/a/b/y", True),
    ],
)
def test_intersects(left, right, expected):
    assert _aare.intersects(left, right) is expected
    assert _aare.intersects(right, left) is expected


def test_unknown_variables_count_as_anything_for_intersection_and_nothing_for_matching():
    assert _aare.intersects("@{SOMETHING}/x", "/etc/x")
    assert not _aare.matches("@{SOMETHING}/x", "/etc/x")


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("/dev/shm/**", "/dev/shm/PostgreSQL.*", True),
        ("/dev/shm/**", "/dev/shm/*", True),
        ("/dev/shm/**", "/dev/s*/x", False),
        ("/dev/shm/**", "/dev/shm", False),
        ("/proc/@{pid}/oom_score_adj", "@{PROC}/@{pid}/oom_score_adj", True),
        ("/proc/@{pid}/oom_score_adj", "/proc/*/oom_score_adj", False),
        ("/a/**", "/a/{b,c}/*", True),
        ("/a/**", "/{a,b}/c", False),
        ("@{PROC}/sys/kernel/{?,??,[^s][^h][^m]**}", "@{PROC}/sys/kernel/core_pattern", True),
        ("@{PROC}/sys/kernel/{?,??,[^s][^h][^m]**}", "@{PROC}/sys/kernel/shmmax", False),
    ],
)
def test_contains_is_conservative(outer, inner, expected):
    assert _aare.contains(outer, inner) is expected


@pytest.mark.parametrize(
    "path",
    ["/tmp/a!b", "/tmp/a b", "/tmp/a*b", "/tmp/{x}", "/tmp/[x]", "/tmp/a,b", "/tmp/a#b", "/tmp/a\\b", '/tmp/a"b',
     "/tmp/a^b", "/tmp/@{x}", "/tmp/\u00e9t\u00e9", "/tmp/tab\there", "/tmp/new\nline", "/tmp/?"],
)
def test_escape_matches_exactly_the_path(path):
    pattern = _aare.escape(path)
    assert _aare.is_literal(pattern)
    assert _aare.unescape_literal(pattern) == path
    assert _aare.matches(pattern, path)
    assert not _aare.matches(pattern, path + "x")


def test_escaped_paths_compile(tmp_path):
    if not os.path.exists(PARSER):
        pytest.fail("apparmor_parser is needed (Debian package apparmor)")
    paths = ["/tmp/a!b", "/tmp/a b", "/tmp/a*b", "/tmp/{x}", "/tmp/a,b", "/tmp/a#b", "/tmp/a\\b", '/tmp/a"b',
             "/tmp/\u00e9", "/tmp/new\nline", "/tmp/a}b", "/tmp/@{x}"]
    rules = "".join("  %s rw,\n" % _aare.escape(path) for path in paths)
    profile = tmp_path / "escaped"
    profile.write_text("profile escaped {\n%s}\n" % rules)
    proc = subprocess.run([PARSER, "-QK", str(profile)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/tmp/{a,b", "unbalanced braces"),
        ("/tmp/a}b", "unbalanced braces"),
        ("/tmp/{a}", "at least two alternatives"),
        ("/tmp/[ab", "unclosed character class"),
        ("/tmp/[]", "empty character class"),
        ("/tmp/[z-a]", "reversed range"),
        ("/tmp/a\\", "trailing backslash"),
        ("/tmp/@{x", "unclosed variable"),
        ("/" + "{a,b}" * 9, "more than 256 alternatives"),
    ],
)
def test_malformed_patterns_are_refused(pattern, message):
    with pytest.raises(_aare.PatternError, match=message):
        _aare.validate(pattern)


def test_fixed_prefix_and_literals():
    (tokens,) = _aare.alternatives("/etc/ab*")
    assert _aare.fixed_prefix(tokens) == "/etc/ab"
    assert _aare.is_literal("/etc/passwd")
    assert not _aare.is_literal("/etc/{passwd,group}")
    assert not _aare.is_literal("/etc/pass?d")
    with pytest.raises(_aare.PatternError, match="not a literal"):
        _aare.unescape_literal("/etc/*")
