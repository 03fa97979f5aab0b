"""The INNAPROP_* variables are checked once, at start: each refusal names
the variable, the value and what is allowed (environment.check())."""
import pytest
import torch

from benchmark_utils.training import environment, parallel
from benchmark_utils.training.environment import BadEnvironment, check

VARIABLES = ("INNAPROP_DEVICE", "INNAPROP_NPROC", "INNAPROP_CHECKPOINTS",
             "INNAPROP_CHECKPOINT_DIR", "INNAPROP_DOWNLOAD_TIMEOUT",
             "INNAPROP_RUNS_DIR")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: none of the variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value", ["bogus", "meta", "cpu:0", "cuda:x",
                                   "CUDA"])
def test_a_bad_device_names_the_variable(env, value):
    env.setenv("INNAPROP_DEVICE", value)
    for call in (parallel.default_device, check):
        with pytest.raises(BadEnvironment) as err:
            call()
        assert f"INNAPROP_DEVICE={value!r}" in str(err.value)
        assert "cpu, cuda or cuda:<index>" in str(err.value)


def test_cuda_asked_for_on_a_machine_without_it_is_refused(env):
    env.setattr(torch.cuda, "is_available", lambda: False)
    env.setattr(torch.cuda, "device_count", lambda: 0)
    env.setenv("INNAPROP_DEVICE", "cuda")
    with pytest.raises(BadEnvironment, match=r"INNAPROP_DEVICE='cuda' .*"
                       "no CUDA device"):
        parallel.default_device()
    # One GPU: cuda:1 is not there.
    env.setattr(torch.cuda, "is_available", lambda: True)
    env.setattr(torch.cuda, "device_count", lambda: 1)
    env.setenv("INNAPROP_DEVICE", "cuda:1")
    with pytest.raises(BadEnvironment, match=r"cuda:0 to cuda:0 \(1 CUDA"):
        parallel.default_device()
    env.setenv("INNAPROP_DEVICE", "cuda:0")
    assert parallel.default_device() == torch.device("cuda", 0)


def test_good_values_pass_and_defaults_apply(env, tmp_path):
    env.setenv("INNAPROP_DEVICE", "cpu")
    assert check() == {
        "INNAPROP_DEVICE": torch.device("cpu"), "INNAPROP_NPROC": 1,
        "INNAPROP_CHECKPOINTS": True, "INNAPROP_DOWNLOAD_TIMEOUT": 60.0,
        "INNAPROP_RUNS_DIR": environment.runs_dir(),
        "INNAPROP_CHECKPOINT_DIR": environment.ROOT / "checkpoints"}
    env.setenv("INNAPROP_NPROC", "3")
    env.setenv("INNAPROP_DOWNLOAD_TIMEOUT", "2.5")
    env.setenv("INNAPROP_CHECKPOINT_DIR", str(tmp_path / "new" / "ckpt"))
    values = check()
    assert values["INNAPROP_NPROC"] == 3
    assert values["INNAPROP_DOWNLOAD_TIMEOUT"] == 2.5
    assert values["INNAPROP_CHECKPOINT_DIR"] == tmp_path / "new" / "ckpt"
    assert not (tmp_path / "new").exists()      # checked, not created


@pytest.mark.parametrize("name, value, allowed", [
    ("INNAPROP_NPROC", "0", ">= 1, or auto"),
    ("INNAPROP_NPROC", "two", ">= 1, or auto"),
    ("INNAPROP_CHECKPOINTS", "no", "1 (checkpoint runs) or 0"),
    ("INNAPROP_CHECKPOINTS", "true", "1 (checkpoint runs) or 0"),
    ("INNAPROP_DOWNLOAD_TIMEOUT", "0", "a number of seconds > 0"),
    ("INNAPROP_DOWNLOAD_TIMEOUT", "inf", "a number of seconds > 0"),
    ("INNAPROP_DOWNLOAD_TIMEOUT", "1 minute", "a number of seconds > 0"),
])
def test_bad_values_name_variable_value_and_what_is_allowed(
        env, name, value, allowed):
    env.setenv("INNAPROP_DEVICE", "cpu")
    env.setenv(name, value)
    with pytest.raises(BadEnvironment) as err:
        check()
    assert f"{name}={value!r} is not valid; allowed: " in str(err.value)
    assert allowed in str(err.value)


def test_folders_must_be_writable_folders(env, tmp_path):
    env.setenv("INNAPROP_DEVICE", "cpu")
    a_file = tmp_path / "file"
    a_file.write_text("")
    for name in ("INNAPROP_RUNS_DIR", "INNAPROP_CHECKPOINT_DIR"):
        env.setenv(name, str(a_file))
        with pytest.raises(BadEnvironment, match=f"{name}=.*a folder \\(this"
                           " is a file\\)"):
            check()
        env.setenv(name, str(a_file / "below"))
        with pytest.raises(BadEnvironment, match="is not writable"):
            check()
        env.delenv(name)
    # Checkpoints off: their folder does not matter.
    env.setenv("INNAPROP_CHECKPOINTS", "0")
    env.setenv("INNAPROP_CHECKPOINT_DIR", str(a_file))
    assert check()["INNAPROP_CHECKPOINTS"] is False


def test_every_bad_variable_is_listed_at_once(env):
    env.setenv("INNAPROP_DEVICE", "bogus")
    env.setenv("INNAPROP_NPROC", "-1")
    with pytest.raises(BadEnvironment) as err:
        check()
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("INNAPROP_DEVICE='bogus'")
    assert lines[1].startswith("INNAPROP_NPROC='-1'")
