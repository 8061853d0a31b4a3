"""One module per DVC stage; each reads its params, calls latentlab, and writes its outputs."""

import argparse

from latentlab import params
from latentlab.params import ModelParams, Params


def _parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="a model listed in params.yaml `models`")
    return parser


def model_args(description: str | None) -> tuple[Params, ModelParams]:
    """params.yaml and the section of the model named on the command line."""
    args = _parser(description).parse_args()
    p = params.load()
    return p, p.model(args.model)


def run_args(description: str | None) -> tuple[Params, ModelParams, int]:
    """params.yaml, the section of the model named on the command line, and the seed named there."""
    parser = _parser(description)
    parser.add_argument("seed", type=int, help="the seed of this run")
    args = parser.parse_args()
    p = params.load()
    return p, p.model(args.model), args.seed
