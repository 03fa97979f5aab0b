from benchmark_utils.data.mnist import FASHION_MNIST, load_fashion_mnist, \
    locate
from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.training.identity import data_source
from benchmark_utils.tasks.grey28 import PARAMETERS, grey28_task


class Dataset(LocalDataset):
    """Fashion-MNIST (Zalando: 60,000 training and 10,000 test images of
    clothing, 28x28 grey, 10 classes), MNIST's drop-in replacement that a
    small CNN does not solve: the first real image workload that trains on
    a CPU in minutes.

    The files come from ``<data path>/FashionMNIST/raw/`` (torchvision's
    layout; config.yml's ``data_paths: {fashion_mnist: ...}``, default
    ``data/fashion_mnist``); where that folder lacks them, from the Debian
    package's folder (``apt-get install dataset-fashion-mnist``,
    /usr/share/datasets/fashion-mnist), with no configuration; else
    torchvision downloads them (MD5-checked archives). Every file is
    checked by the SHA-256 of its decompressed content.

    Model, recipe and knobs are mnist's (benchmark_utils/tasks/grey28.py):
    LeNet-5 with plain logits by default, batch 128, 20 epochs, lr 1e-3
    cosine, weight decay 0.01; ``n_val`` holds out a validation split."""

    name = "fashion_mnist"
    data_key, data_marker = "fashion_mnist", "FashionMNIST"
    parameters = PARAMETERS

    @staticmethod
    def has_data(root):
        """Whether the files are there, or in Debian's copy."""
        return locate(root, FASHION_MNIST) is not None

    def source(self):
        # The folder actually read: the configured one, or Debian's copy.
        folder = locate(self.data_root(), FASHION_MNIST)
        return data_source(folder if folder is not None
                           else self.data_root())

    def prepare(self):
        load_fashion_mnist(self.data_root(), download=True)

    def get_data(self):
        task = grey28_task(load_fashion_mnist(self.data_root()),
                           FASHION_MNIST, self)
        task.source = self.source()
        return dict(task=task)
