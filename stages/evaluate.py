"""Stage `evaluate@<model>-<seed>`: measure a trained model on the test set; save its codes."""

import logging

import torch

from latentlab import measures
from latentlab.artifacts import save_arrays, write_json
from latentlab.checkpoints import load_weights
from latentlab.errors import stage_entry
from latentlab.evaluation import encode_means, iw_log_likelihood, reconstruction_bce, vae_elbo_terms
from latentlab.fashion_mnist import load_split
from latentlab.models import VariationalAutoEncoder, build_model
from latentlab.paths import DATA_ROOT, run_dir
from latentlab.training import as_pixels, resolve_device
from stages import run_args

log = logging.getLogger("evaluate")


@stage_entry
def main() -> None:
    """Evaluate the model and seed named on the command line."""
    p, mp, seed = run_args(__doc__)
    e = p.evaluate
    out = run_dir(mp.name, seed)
    device = resolve_device(p.device)
    model = load_weights(build_model(mp.kind, mp.latent_dim, mp.hidden), out / "model.pt")
    model.to(device)
    train_images, train_labels = load_split(DATA_ROOT, "train", p.limit)
    test_images, test_labels = load_split(DATA_ROOT, "test", p.limit)
    test_pixels = as_pixels(test_images, device)

    log.info(
        "%s seed %d: encoding and reconstructing %d test images",
        mp.name,
        seed,
        len(test_images),
    )
    test_codes = encode_means(model, test_pixels).cpu().numpy()
    train_codes = encode_means(model, as_pixels(train_images, device)).cpu().numpy()
    metrics: dict = {"test_bce": reconstruction_bce(model, test_pixels)}
    if isinstance(model, VariationalAutoEncoder):
        generator = torch.Generator(device=device).manual_seed(seed)
        terms = vae_elbo_terms(model, test_pixels, generator)
        log.info("%s: importance-weighted log-likelihood with %d samples", mp.name, e.iw_samples)
        metrics.update(
            {
                "test_neg_elbo": terms["neg_elbo"],
                "test_kl": terms["kl"],
                "test_log_likelihood_iw": iw_log_likelihood(
                    model, test_pixels, e.iw_samples, generator
                ),
            }
        )

    extent = measures.code_extent(test_codes)
    knn = measures.knn_accuracy(train_codes, train_labels, test_codes, test_labels, k=e.knn_k)
    metrics.update(
        {
            "knn_accuracy": knn,
            **{f"code_{q}_z{d + 1}": v for q in ("p1", "p99") for d, v in enumerate(extent[q])},
        }
    )
    save_arrays(out / "codes.npz", codes=test_codes, labels=test_labels)
    write_json(out / "eval.json", metrics)
    log.info(
        "%s seed %d: %s",
        mp.name,
        seed,
        ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)),
    )


if __name__ == "__main__":
    main()
