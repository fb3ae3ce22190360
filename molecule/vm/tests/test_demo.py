"""The demo container runs confined by its AppArmor profile in the lab VM, and still does its job."""

from __future__ import annotations

import pytest

PROFILE = "confine-demo"
CONTAINER = "confine-demo"


@pytest.fixture
def init_pid(host):
    pid = host.check_output(f"docker inspect -f '{{{{.State.Pid}}}}' {CONTAINER}").strip()
    assert pid.isdigit() and int(pid) > 0, f"container {CONTAINER} is not running (pid {pid!r})"
    return int(pid)


def test_apparmor_enabled_in_kernel(host):
    assert host.file("/sys/module/apparmor/parameters/enabled").content_string.strip() == "Y"


def test_profile_loaded_in_enforce_mode(host):
    profiles = host.file("/sys/kernel/security/apparmor/profiles").content_string.splitlines()
    assert f"{PROFILE} (enforce)" in profiles


def test_container_uses_the_profile(host):
    assert host.check_output(f"docker inspect -f '{{{{.AppArmorProfile}}}}' {CONTAINER}").strip() == PROFILE


def test_container_init_is_confined(host, init_pid):
    assert host.file(f"/proc/{init_pid}/attr/current").content_string.strip() == f"{PROFILE} (enforce)"


def test_site_answers(host):
    page = host.check_output("curl -fsS http://127.0.0.1:8080/")
    assert "confine demo" in page


def test_workload_passes_under_the_profile(host):
    result = host.run(f"docker exec {CONTAINER} /usr/local/bin/demo-workload")
    assert result.rc == 0, result.stdout + result.stderr
    assert "5/5 steps ok" in result.stdout


def test_profile_denies_writes_to_etc(host):
    probe = "python3 -c \"open('{path}', 'w').write('x')\""
    allowed = host.run(f"docker exec {CONTAINER} {probe.format(path='/tmp/confine-probe')}")
    assert allowed.rc == 0, allowed.stderr
    denied = host.run(f"docker exec {CONTAINER} {probe.format(path='/etc/confine-probe')}")
    assert denied.rc != 0
    assert "Permission denied" in denied.stderr
    assert host.run(f"docker exec {CONTAINER} test -e /etc/confine-probe").rc == 1
