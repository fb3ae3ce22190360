"""What the default scenario's converge leaves in the container: installed, compilable profiles in the right mode."""

from __future__ import annotations

import pytest

PROFILE_DIR = "/etc/apparmor.d/containers"


@pytest.mark.parametrize(
    ("name", "complain"),
    [("confine-molecule-app", True), ("confine-molecule-text", False)],
)
def test_profile_installed_in_its_mode(host, name, complain):
    profile = host.file(f"{PROFILE_DIR}/{name}")
    assert profile.exists
    assert profile.user == "root"
    text = profile.content_string
    header = next(line for line in text.splitlines() if line.lstrip().startswith(f"profile {name}"))
    assert ("complain" in header) is complain, header


@pytest.mark.parametrize("name", ["confine-molecule-app", "confine-molecule-text"])
def test_profile_compiles(host, name):
    result = host.run(f"apparmor_parser -QK {PROFILE_DIR}/{name}")
    assert result.rc == 0, result.stderr


def test_spec_profile_denies_what_the_spec_denies(host):
    text = host.file(f"{PROFILE_DIR}/confine-molecule-app").content_string
    assert "deny mount" in text
    assert "/etc/**" in text
    assert "capability chown" in text
    assert "/bin/dash" in text
