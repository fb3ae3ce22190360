"""The security_opts filter: the options of module_utils/_state.py, with Ansible's booleans and errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.confine.docker.plugins.filter.security_opts import FilterModule
from ansible_collections.confine.docker.plugins.module_utils import _state

security_opts = FilterModule().filters()["security_opts"]
PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}


@pytest.mark.parametrize("mode", _state.MODES)
@pytest.mark.parametrize("apparmor, seccomp", [(True, True), (False, True), (True, False), ("false", "yes")])
def test_the_filter_gives_the_states_options(mode, apparmor, seccomp):
    expected = _state.security_opts(mode, "confine-web", apparmor not in (False, "false"), seccomp not in (False,),
                                    PROFILE)
    assert security_opts(mode, profile="confine-web", apparmor=apparmor, seccomp=seccomp,
                         seccomp_profile=PROFILE) == expected


def test_a_string_false_is_false():
    assert security_opts("baseline", "confine-web", apparmor="false") == []
    assert security_opts("complain", "confine-web", apparmor="no", seccomp="no") == ["no-new-privileges:true"]


def test_errors_are_filter_errors():
    with pytest.raises(AnsibleFilterError, match="the enforcing seccomp profile of confine-web is needed"):
        security_opts("enforce", "confine-web")
    with pytest.raises(AnsibleFilterError, match="no security options for mode 'permissive'"):
        security_opts("permissive", "confine-web")
    with pytest.raises(AnsibleFilterError, match="not a valid boolean"):
        security_opts("baseline", "confine-web", apparmor="perhaps")
