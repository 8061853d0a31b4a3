"""Stage `evaluate@<model>`: measure every seed's model on the test set; save its test codes and
one reconstructed test image per class."""

if not __package__:  # `python stages/evaluate.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.evaluate`")

import logging

import torch

from latentlab import evaluation
from latentlab.analysis.metrics import record
from latentlab.core import paths
from latentlab.core.artifacts import save_arrays, write_json
from latentlab.core.fashion_mnist import load_split
from latentlab.core.params import ModelParams, Params
from latentlab.core.paths import DATA_ROOT
from latentlab.nn.models import VariationalAutoEncoder
from latentlab.nn.runtime import as_pixels, setup
from latentlab.nn.trained import load_trained
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("evaluate")


@stage_entry
def main() -> None:
    """Evaluate every seed of the model named on the command line."""
    p, mp = stage_params(__doc__, per_model=True)
    runtime = setup(p.device, p.precision, log)
    with runtime.autocast():  # the models' matmuls
        _evaluate(p, mp, runtime.device)


def _evaluate(p: Params, mp: ModelParams, device: torch.device) -> None:
    """Every measure of every seed's model, on `device`."""
    e = p.evaluate
    train_images, train_labels = load_split(DATA_ROOT, "train", p.limit)
    test_images, test_labels = load_split(DATA_ROOT, "test", p.limit)
    train_pixels = as_pixels(train_images, device)
    test_pixels = as_pixels(test_images, device)
    for seed in p.seeds:
        model = load_trained(mp, seed, device)
        log.info(
            "%s seed %d: encoding and reconstructing %d test images",
            mp.name,
            seed,
            len(test_images),
        )
        test_codes = evaluation.encode_means(model, test_pixels).cpu().numpy()
        train_codes = evaluation.encode_means(model, train_pixels).cpu().numpy()
        metrics: dict[str, float] = {"test_bce": evaluation.mean_code_bce(model, test_pixels)}
        if isinstance(model, VariationalAutoEncoder):
            generator = torch.Generator(device=device).manual_seed(seed)
            terms = evaluation.vae_elbo_terms(model, test_pixels, generator)
            log.info(
                "%s seed %d: importance-weighted log-likelihood, %d samples per image",
                mp.name,
                seed,
                e.iw_samples,
            )
            metrics["test_neg_elbo"] = terms["neg_elbo"]
            metrics["test_kl"] = terms["kl"]
            metrics["log_likelihood"] = evaluation.iw_log_likelihood(
                model, test_pixels, e.iw_samples, generator
            )
        metrics["knn_accuracy"] = evaluation.knn_accuracy(
            train_codes, train_labels, test_codes, test_labels, k=e.knn_k
        )
        metrics |= evaluation.code_diagnostics(model, test_pixels, test_codes)
        originals, recon, index = evaluation.class_examples(model, test_images, test_labels, device)
        save_arrays(
            paths.codes(mp.name, seed),
            codes=test_codes,
            labels=test_labels,
            example_index=index,
            examples=originals,
            reconstructions=recon,
        )
        metrics = record("evaluate", metrics, mp.kind)
        write_json(paths.eval_metrics(mp.name, seed), metrics)
        log.info(
            "%s seed %d: %s", mp.name, seed, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        )
    log_written(
        log, paths.eval_metrics(mp.name, p.seeds[0]).parent, paths.codes(mp.name, p.seeds[0]).parent
    )


if __name__ == "__main__":
    main()
