from benchmark_utils.data.mnist import MNIST, load_mnist, locate
from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.tasks.grey28 import PARAMETERS, grey28_task


class Dataset(LocalDataset):
    """MNIST (60,000 training and 10,000 test digits, 28x28): torchvision's
    checksum-verified download, or a local copy in its layout
    (``MNIST/raw/``, idx files gzipped or not).

    ``model``: ``lenet5`` (default; LeNet-5 with plain logits) or
    ``lenet5_relu_logits`` (the implementation chapter 3 cites, a ReLU on
    its logits: chapter 3's configs name it). Chapter 3's knobs:
    ``maxpool`` (native, minimal, hybrid), ``maxpool_beta``,
    ``relu_prime0``, ``batchnorm``; ``dtype`` trains in true 16/32/64 bits;
    ``deterministic``. Recipe: batch 128 (the chapter's), 20 epochs, lr
    1e-3 cosine, weight decay 0.01; normalization only. ``n_val`` holds out
    a stratified validation split (0: none, as the thesis); ``n_train``
    keeps a fixed subset (quick checks)."""

    name = "mnist"
    data_key, data_marker = "mnist", "MNIST"
    parameters = PARAMETERS

    @staticmethod
    def has_data(root):
        """Whether the files are there (not merely a folder)."""
        return locate(root, MNIST) is not None

    def prepare(self):
        load_mnist(self.data_root(), download=True)

    def get_data(self):
        task = grey28_task(load_mnist(self.data_root()), MNIST, self)
        task.source = self.source()
        return dict(task=task)
