"""train.precision: auto and the warning for bf16 on CPUs without native bf16."""

from __future__ import annotations

import pytest

from superres.train.trainer import train
from tests.train.conftest import tiny


@pytest.mark.slow
def test_bf16_on_a_cpu_without_native_bf16_warns(shared, tmp_path, capsys, monkeypatch):
    """bf16 trains 1.4-2x faster than fp32 on an AVX-512 BF16 CPU but several times slower on
    an AVX2 one, so there training says why."""
    from superres.train import precision

    for native in (False, True):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        overrides = ("train.precision=bf16", "train.iterations=1", "val.sets=[]")
        recipe = tiny(tmp_path / str(native), shared, *overrides)
        train(recipe, progress=False)
        warned = "this CPU has no native bf16" in capsys.readouterr().out
        assert warned == (not native)


@pytest.mark.slow
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(shared, tmp_path, capsys, monkeypatch):
    """bf16 trains about 10x slower than fp32 on CPUs without native bf16; ``auto`` picks per
    machine, and the card records what was used."""
    from superres.train import precision

    for native in (False, True):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        overrides = ("train.precision=auto", "train.iterations=1", "val.sets=[]")
        _, card = train(tiny(tmp_path / str(native), shared, *overrides), progress=False)
        out = capsys.readouterr().out
        assert card["training"]["precision"] == ("bf16" if native else "fp32")
        assert f"train.precision auto: {card['training']['precision']} on this cpu" in out
        assert "no native bf16" not in out


def test_precision_notice_says_what_auto_chose_and_warns_of_slow_bf16(monkeypatch):
    import torch

    from superres.train import precision

    cpu = torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        chosen = "bf16" if native else "fp32"
        assert precision.training_precision("auto", cpu) == chosen
        assert precision.precision_notice("auto", cpu) == f"train.precision auto: {chosen} on this cpu"
        warning = precision.precision_notice("bf16", cpu)
        warned = warning is not None and warning.startswith("warning: train.precision is bf16")
        assert warned == (not native)
        assert precision.precision_notice("fp32", cpu) is None
        assert precision.training_precision("fp32", cpu) == "fp32"
