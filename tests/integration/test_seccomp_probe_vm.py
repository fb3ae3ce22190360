"""The syscall probe of test_seccomp_probe.py against the dockerd of each lab VM: Debian 12 (Docker 20.10.24) and
Debian 13 (Docker 26.1.5). The generated ``base: docker_default`` profile, rendered on this controller for the
version the VM's engine reports, must give every syscall the outcome the engine's own built-in default gives. The
fixtures and tests are the host's (imported, so collected here again), with ``engine`` the VM's.
"""

from __future__ import annotations

import pytest
from probe.docker_engine import DockerEngine
from test_seccomp_probe import (  # noqa: F401 pylint: disable=unused-import
    baseline,
    lib,
    max_nr,
    measured,
    probe,
    test_docker_default_rules_equal_what_docker_gives_runc,
    test_generated_baseline_agrees_with_docker_default,
    test_probe_sees_seccomp,
    test_probe_tells_engine_versions_apart,
)

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("local_interpreter")]

EXPECTED_ENGINES = {"bookworm": "20.10.", "trixie": "26.1."}


@pytest.fixture(scope="module")
def engine(lab_inventory, lab_suite):
    """The dockerd of the lab VM of ``lab_suite``."""
    with measured(DockerEngine.lab_vm(lab_inventory)) as vm:
        assert vm.reported.startswith(EXPECTED_ENGINES[lab_suite]), (lab_suite, vm.reported)
        yield vm
