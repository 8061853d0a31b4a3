"""Errors a user can cause, and how a stage reports them."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A mistake the user can fix (bad params, missing data, wrong file), said in one sentence."""


def stage_entry(main: Callable[[], T]) -> Callable[[], T]:
    """Wrap a stage's main: log to stderr, and turn a UserError into one line and exit status 2."""

    @functools.wraps(main)
    def wrapper() -> T:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        try:
            return main()
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
