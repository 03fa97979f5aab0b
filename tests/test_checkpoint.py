"""Checkpoint files: atomic, verified, keyed by the run, with fallback."""
import torch

from benchmark_utils.training.checkpoint import CheckpointStore


def test_round_trip_and_only_the_last_two_are_kept(tmp_path):
    store = CheckpointStore(tmp_path, dataset="d", solver="s", seed=1)
    for i in range(4):
        store.save({"i": i, "t": torch.arange(i + 1)}, index=i)
    assert sorted(p.name for p in store.dir.glob("*.pt")) == [
        "ckpt-00000002.pt", "ckpt-00000003.pt"]
    state = store.load()
    assert state["i"] == 3 and torch.equal(state["t"], torch.arange(4))
    store.clear()
    assert store.load() is None and not store.dir.exists()


def test_runs_differing_in_anything_do_not_share_a_folder(tmp_path):
    base = dict(dataset="cifar10[model=vgg11]", objective="o",
                solver="innaprop[alpha=0.1,beta=0.9]", seed=3, repetition=0)
    dirs = {CheckpointStore(tmp_path, **base).dir}
    for key, other in [("dataset", "cifar10[model=resnet18]"),
                       ("solver", "innaprop[alpha=2.0,beta=2.0]"),
                       ("seed", 4), ("repetition", 1), ("objective", "o2")]:
        dirs.add(CheckpointStore(tmp_path, **dict(base, **{key: other})).dir)
    assert len(dirs) == 6


def test_truncated_checkpoint_is_detected_and_the_previous_used(tmp_path,
                                                                 capsys):
    store = CheckpointStore(tmp_path, run="r")
    store.save({"i": 1, "w": torch.randn(1000)}, index=1)
    store.save({"i": 2, "w": torch.randn(1000)}, index=2)
    newest = store.dir / "ckpt-00000002.pt"
    newest.write_bytes(newest.read_bytes()[:-100])        # truncated
    assert store.load()["i"] == 1
    assert "ckpt-00000002.pt is unusable" in capsys.readouterr().err


def test_corrupted_bytes_of_same_length_are_detected(tmp_path, capsys):
    store = CheckpointStore(tmp_path, run="r")
    store.save({"i": 1}, index=1)
    store.save({"i": 2, "w": torch.zeros(100)}, index=2)
    newest = store.dir / "ckpt-00000002.pt"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert store.load()["i"] == 1
    assert "SHA-256" in capsys.readouterr().err


def test_nothing_usable_means_a_fresh_start(tmp_path, capsys):
    store = CheckpointStore(tmp_path, run="r")
    store.save({"i": 1}, index=1)
    (store.dir / "ckpt-00000001.json").unlink()   # crash before the hash
    assert store.load() is None
    assert "unusable" in capsys.readouterr().err
