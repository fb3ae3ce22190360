#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apparmor_facts
short_description: What a host's AppArmor offers generated profiles (parser version, policy ABIs, kernel features)
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - Reads, without changing anything, whether the kernel has AppArmor enabled, the version of C(apparmor_parser),
    the policy ABIs in C(/etc/apparmor.d/abi/), the ABI C(/etc/apparmor.d/abstractions/base) declares and the
    features the kernel mediates (C(/sys/kernel/security/apparmor/features)).
  - Sets the fact C(confine_apparmor_host). Its C(abi) is the feature ABI the profiles
    C(confine.docker.apparmor_profile) renders declare on the host (C(4.0) with AppArmor 4, C(3.0) with AppArmor 3,
    null for parsers older than AppArmor 3); that module runs this one itself when the fact is not set yet.
extends_documentation_fragment:
  - confine.docker.attributes.READ_ONLY
options: {}
notes:
  - A host without C(apparmor_parser) or without AppArmor in its kernel is not an error; the facts say so.
seealso:
  - module: confine.docker.apparmor_profile
"""

EXAMPLES = r"""
- name: Read the host's AppArmor facts
  confine.docker.apparmor_facts:

- name: Show the ABI generated profiles declare here
  ansible.builtin.debug:
    msg: "{{ ansible_facts.confine_apparmor_host.abi }}"
"""

RETURN = r"""
ansible_facts:
  description: The facts, under C(confine_apparmor_host).
  returned: always
  type: dict
  contains:
    confine_apparmor_host:
      description: The host's AppArmor as generated profiles see it.
      type: dict
      contains:
        enabled:
          description: Whether the running kernel has AppArmor enabled (and its securityfs mounted).
          type: bool
          sample: true
        reason:
          description: Why AppArmor is not available (empty when it is).
          type: str
          sample: ""
        parser:
          description: Path of C(apparmor_parser), null when it is not installed.
          type: str
          sample: /usr/sbin/apparmor_parser
        parser_version:
          description: Version of C(apparmor_parser), null when it is not installed.
          type: str
          sample: 4.1.0
        abis:
          description: The policy ABIs in C(/etc/apparmor.d/abi/), oldest first.
          type: list
          elements: str
          sample: ["3.0", "4.0"]
        abstractions_abi:
          description: The ABI C(abstractions/base) declares, null when it declares none.
          type: str
          sample: "4.0"
        abi:
          description: The ABI generated profiles declare on this host, null for none.
          type: str
          sample: "4.0"
        features:
          description:
            - The features the kernel mediates (one key per entry of C(features/), plus C(network.af_unix) for
              fine-grained unix socket rules); empty without AppArmor.
          type: dict
          sample: {"signal": true, "namespaces": true, "io_uring": true, "network.af_unix": false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._apparmor import host_facts


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    binary = module.get_bin_path("apparmor_parser", opt_dirs=["/sbin", "/usr/sbin"])

    def run(argv):
        return module.run_command(argv)

    facts = host_facts(parser_binary=binary, run=run)
    module.exit_json(changed=False, ansible_facts={"confine_apparmor_host": facts})


if __name__ == "__main__":
    main()
