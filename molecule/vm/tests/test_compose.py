"""On Debian 13 (vm-trixie; compose v2 is Debian 13's docker-compose): the compose service prepare.yml brought up is
confined through the runbook's override, the project's own file untouched, and a `docker compose up` by the user
with the override keeps the container as it is."""

from __future__ import annotations

import json

import pytest

PROJECT = "/srv/shop"
NAME = "shop-web"
PROFILE = "confine-shop-web"


@pytest.fixture(autouse=True)
def compose_v2(host):
    if host.run("docker compose version").rc != 0:
        pytest.skip("no compose v2 on this stack (Debian 12): the compose service is vm-trixie's")


def inspect(host):
    return json.loads(host.check_output(f"docker inspect {NAME}"))[0]


def test_the_service_runs_under_its_enforced_profiles_through_the_override(host):
    state = json.loads(host.file(f"/var/lib/confine/{NAME}/state.json").content_string)
    assert state["mode"] == "enforce" and state["clean"] is True, state
    info = inspect(host)
    assert info["AppArmorProfile"] == PROFILE
    assert info["Config"]["Labels"]["com.docker.compose.service"] == "web"
    assert info["Config"]["Labels"]["shop.tier"] == "front"
    status = host.file(f"/proc/{info['State']['Pid']}/status").content_string
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status
    override = host.file(f"{PROJECT}/compose.confine.yml").content_string
    assert f'"apparmor={PROFILE}"' in override and '"seccomp=compose.confine.web.seccomp.json"' in override
    assert "SCMP_ACT_ERRNO" in host.file(f"{PROJECT}/compose.confine.web.seccomp.json").content_string
    # The project's own file is the user's, as prepare wrote it.
    assert "compose.confine" not in host.file(f"{PROJECT}/compose.yml").content_string
    assert host.check_output("curl -fsS http://127.0.0.1:8082/index.html").strip() == "shop site"


def test_the_users_compose_up_with_the_override_keeps_the_confined_container(host):
    before = inspect(host)["Id"]
    host.check_output(f"cd {PROJECT} && docker compose -f compose.yml -f compose.confine.yml up -d")
    assert inspect(host)["Id"] == before and inspect(host)["AppArmorProfile"] == PROFILE
