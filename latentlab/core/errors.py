"""Errors a user can cause: each is said in one sentence (stages/__init__.py's stage_entry prints
it as one `error:` line and exits with status 2)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad params, missing data, wrong file), said in one sentence."""
