"""A stage as DVC runs it (`dvc repro`, `dvc exp run`): what it must do so that dvc.lock tells
the truth.

DVC names the stage in the command's environment (DVC_STAGE, and the repository in DVC_ROOT),
removes the stage's outputs before running it, and reads the stage's params from params.yaml
again once the command has ended, to record them in dvc.lock beside the outputs. So:

- a stage compares the params it uses (those dvc.yaml lists for it) at its end with those at its
  start, and fails when they differ: DVC records nothing then, instead of pairing new values with
  outputs made from the old ones;
- a stage that fails puts back the outputs DVC removed, as dvc.lock records them, from DVC's
  cache, so that a refusal touches nothing even under `dvc repro -s`.

Params are read here as DVC reads them (YAML 1.2, ruamel's safe loader): what DVC records.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentlab.core.errors import UserError
from latentlab.core.params import PARAMS_FILE, PIPELINE_FILE, read_yaml

STAGE_ENV = "DVC_STAGE"  # set by DVC for every stage command it runs, e.g. "train@vae"
ROOT_ENV = "DVC_ROOT"
_UNREADABLE = object()  # a params.yaml that cannot be read: never equal to any reading


def current_stage() -> str | None:
    """The DVC stage this process runs as, or None when not run by DVC."""
    return os.environ.get(STAGE_ENV) or None


def _load(path: Path) -> Any:
    """A YAML file as DVC reads it; _UNREADABLE when it is missing or not YAML."""
    try:
        return read_yaml(path)
    except UserError:
        return _UNREADABLE


def _definition(stage: str, pipeline: Any) -> dict | None:
    """The definition of `stage` in a parsed dvc.yaml: a foreach stage's `do` with the item
    (train@vae: vae) put in for `${item}`, as DVC resolves it; None for no such stage."""
    name, _, item = stage.partition("@")
    stages = pipeline.get("stages") if isinstance(pipeline, dict) else None
    entry = stages.get(name) if isinstance(stages, dict) else None
    if not isinstance(entry, dict):
        return None
    if "foreach" not in entry:
        return entry if not item else None

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("${item}", item)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return value

    return fill(entry.get("do")) if item else None


def stage_param_keys(stage: str, pipeline: Path = PIPELINE_FILE) -> list[str] | None:
    """The params.yaml keys dvc.yaml lists for `stage` (dotted, as DVC takes them); None when it
    lists the whole file. A stage dvc.yaml does not define lists none."""
    definition = _definition(stage, _load(pipeline))
    keys: list[str] = []
    for entry in (definition or {}).get("params") or []:
        if isinstance(entry, str):
            keys.append(entry)
        elif isinstance(entry, dict) and PARAMS_FILE.name in entry:
            listed = entry[PARAMS_FILE.name]
            if not listed:
                return None
            keys += [str(k) for k in listed]
    return keys


def _value(config: Any, key: str) -> Any:
    """The value at a dotted key (data.limit), as DVC's dpath finds it; _UNREADABLE if absent."""
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return _UNREADABLE
        config = config[part]
    return config


@dataclass(frozen=True)
class ParamsSnapshot:
    """The values a stage's params had when it started, read as DVC reads them."""

    stage: str
    keys: list[str] | None  # None: the whole of params.yaml
    values: dict[str, Any]


def _read(keys: list[str] | None, params_file: Path) -> dict[str, Any]:
    config = _load(params_file)
    if keys is None:
        if not isinstance(config, dict):
            return {"(the whole file)": config}
        return dict(config)
    return {key: _value(config, key) for key in keys}


def snapshot(
    stage: str, params_file: Path = PARAMS_FILE, pipeline: Path = PIPELINE_FILE
) -> ParamsSnapshot:
    """The current values of the params dvc.yaml lists for `stage`."""
    keys = stage_param_keys(stage, pipeline)
    return ParamsSnapshot(stage, keys, _read(keys, params_file))


def _typed(value: Any) -> Any:
    """A value with its types made part of it, so that 1, 1.0 and true differ as DVC writes them
    (Python alone takes 1 == 1.0 == True); mappings compare regardless of their key order."""
    if isinstance(value, dict):
        return ("map", sorted((repr(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, value)


def changed_params(before: ParamsSnapshot, params_file: Path = PARAMS_FILE) -> list[str]:
    """The keys of the stage's params whose values differ now from `before`, sorted. A key
    absent both times is unchanged; one unreadable at only one of the times has changed."""
    now = _read(before.keys, params_file)
    changed = []
    for key in sorted(set(before.values) | set(now)):
        old, new = before.values.get(key, _UNREADABLE), now.get(key, _UNREADABLE)
        if old is new:
            continue
        if old is _UNREADABLE or new is _UNREADABLE or _typed(old) != _typed(new):
            changed.append(key)
    return changed


def _recorded_outputs(stage: str) -> list[str]:
    """The outputs dvc.lock records for `stage` with their hashes (none on its first run)."""
    lock = _load(Path(os.environ.get(ROOT_ENV) or os.curdir) / "dvc.lock")
    stages = lock.get("stages") if isinstance(lock, dict) else None
    entry = stages.get(stage) if isinstance(stages, dict) else None
    outs = entry.get("outs") if isinstance(entry, dict) else None
    return [o["path"] for o in outs or [] if isinstance(o, dict) and o.get("path")]


def restore_outputs(stage: str) -> str | None:
    """Put the outputs of `stage` back as dvc.lock records them, from DVC's cache (DVC removed
    them before running the stage; outputs that DVC does not cache are left as they are).

    Returns None when every output is back (or dvc.lock records none), else a clause naming what
    is gone and how to get it back. DVC releases its repository lock while a stage's command
    runs, and checks out through its data index, which takes no stage lock: this is what
    `dvc checkout <stage>` does.
    """
    if not _recorded_outputs(stage):
        return None
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    dvc_log = logging.getLogger("dvc")
    level = dvc_log.level
    dvc_log.setLevel(logging.ERROR)  # no progress bars (they follow this level)
    logging.disable(logging.WARNING)  # nor notes: the stage's error is one line
    try:
        with Repo(os.environ.get(ROOT_ENV) or os.curdir) as repo:
            repo.checkout(targets=[stage], force=True)
    except CheckoutError as err:
        gone = sorted(err.target_infos)
        them = "it" if len(gone) == 1 else "them"
        return (
            f"DVC removed {', '.join(gone)} before running {stage}, and its cache cannot put "
            f"{them} back: `dvc pull {stage}` fetches {them} from a remote, `dvc repro {stage}` "
            f"remakes {them}"
        )
    except DvcException as err:
        reason = " ".join(str(err).split())
        return (
            f"the outputs DVC removed before running {stage} could not be put back ({reason}): "
            f"`dvc checkout {stage}` puts them back"
        )
    finally:
        logging.disable(logging.NOTSET)
        dvc_log.setLevel(level)
    return None
