"""Offline stand-in for the pip bootstrap script that ``ansible-test`` downloads for its per-test virtualenvs.

The download host is not reachable from the test machines, but Python ships pip in ``ensurepip`` and PyPI is
reachable, so: install the bundled pip, then let it install the exact packages ansible-test asked for.
``scripts/sanity`` places this file where ansible-test looks for its cached copy.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# Options understood by the upstream bootstrap script but not by ``pip install``.
BOOTSTRAP_ONLY = {"--no-setuptools", "--no-wheel"}


def main(argv):
    env = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)  # it also points PIP_CONFIG_FILE at /dev/null, hence the saved env
    args = [arg for arg in argv if arg not in BOOTSTRAP_ONLY]
    return subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
