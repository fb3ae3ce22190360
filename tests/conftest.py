"""Shared pytest setup: make ``ansible_collections.confine.docker`` importable from a checkout."""

from __future__ import annotations

import contextlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def _link_collection():
    parent = os.path.join(COLLECTIONS, "ansible_collections", "confine")
    link = os.path.join(parent, "docker")
    os.makedirs(parent, exist_ok=True)
    if not os.path.lexists(link):
        with contextlib.suppress(FileExistsError):  # another test process made it first
            os.symlink(os.path.join("..", "..", "..", ".."), link)


_link_collection()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
