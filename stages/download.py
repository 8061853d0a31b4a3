"""Stage `download`: the four Fashion-MNIST files, verified, where torchvision would keep them."""

from latentlab import fashion_mnist, params
from latentlab.errors import stage_entry
from latentlab.paths import DATA_ROOT


@stage_entry
def main() -> None:
    """Fetch from the first of data.sources that gives four files with the published checksums."""
    p = params.load()
    source = fashion_mnist.fetch(p.sources, DATA_ROOT)
    print(f"Fashion-MNIST from {source} -> {fashion_mnist.raw_dir(DATA_ROOT)}")


if __name__ == "__main__":
    main()
