"""`superres models`: the networks and the shipped weights."""

from __future__ import annotations

from superres.cli import main


def test_models_command_lists_every_network(capsys):
    from superres.archs import specs

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in specs():
        assert f"\n{name} " in out
    assert "default model: x2:" in out


def test_shipped_table_columns_line_up_with_long_names():
    """Names longer than 14 characters do not push their row's columns to the right."""
    from superres.cli.models import shipped_table

    card = {"kind": "psnr", "scale": 4, "arch": "srvgg", "parameters": 1, "metrics": {"Set5": {"psnr": 31.0}}}
    lines = shipped_table({"short": {"card": card}, "a-much-longer-model-name": {"card": card}}).splitlines()
    assert len({line.index(" psnr ") for line in lines[1:]}) == 1
    assert lines[0].index("kind") == lines[1].index("psnr")


def test_third_party_models_say_whose_weights_and_licence(capsys):
    assert main(["models"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rlfn-s-x4 ")]
    assert len(rows) == 1
    assert " rlfn " in rows[0] and "publisher's weights, Apache-2.0: github.com/bytedance/RLFN" in rows[0]


def test_a_model_fine_tuned_from_third_party_weights_says_so(capsys):
    """Our training time and hardware, then whose weights it started from and their licence."""
    assert main(["models"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rlfn-s-x3 ")]
    assert len(rows) == 1
    assert rows[0].endswith("threads, from Apache-2.0 weights: github.com/bytedance/RLFN"), rows[0]
