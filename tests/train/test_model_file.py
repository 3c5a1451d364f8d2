"""The model file and its card."""

from __future__ import annotations

import json

import torch

from superres.train.checkpoint import CHECKPOINT_NAME
from superres.train.model_file import hardware_description
from superres.train.trainer import train
from superres.weights import read_metadata
from tests.train.conftest import tiny


def test_reparameterisable_network_is_exported_folded(shared, tmp_path):
    network = "network={arch: ecbsr, params: {num_feat: 8, num_block: 2}}"
    recipe = tiny(tmp_path, shared, network, "val.sets=[]", "train.iterations=2")
    path, card = train(recipe, progress=False)
    meta = read_metadata(path)
    assert meta["arch"] == "srvgg" and card["trained_as"]["arch"] == "ecbsr"
    state = torch.load(tmp_path / "tiny-test" / CHECKPOINT_NAME, weights_only=True)
    assert state["arch"] == "ecbsr"  # the checkpoint keeps the training-time branches for fine-tuning


def test_hardware_description_counts_threads():
    """Cards of one-thread runs said '1 threads'."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert hardware_description(torch.device("cpu")).endswith(", 1 thread")
        torch.set_num_threads(2)
        assert hardware_description(torch.device("cpu")).endswith(", 2 threads")
    finally:
        torch.set_num_threads(before)


def test_write_model_file_writes_the_generator_and_its_card(shared, tmp_path):
    from superres.archs import build_network
    from superres.train.model_file import RunSummary, write_model_file
    from superres.weights import read_metadata

    recipe = tiny(tmp_path, shared)
    params = {"scale": 2, "num_feat": 8, "num_conv": 2}
    network = build_network("srvgg", **params)
    history = [{"iteration": 10, "Set5": {"psnr": 30.0, "ssim": 0.9}}]
    images = {"used": 91, "too_small_for_the_patch": 0}
    summary = RunSummary(history, 12.34, torch.device("cpu"), images=images)
    recipe.run_dir.mkdir(parents=True)
    path, card = write_model_file(recipe, network, "srvgg", params, summary)
    assert path == recipe.run_dir / "tiny-test.safetensors"
    assert read_metadata(path)["card"] == json.loads(json.dumps(card))
    assert card["metrics"] == {"Set5": {"psnr": 30.0, "ssim": 0.9}} and card["validation_history"] == history
    training = card["training"]
    assert training["wall_time_s"] == 12.3 and training["processes"] == 1 and training["images"]["used"] == 91
    assert card["kind"] == "psnr" and card["trained_as"] is None and card["parameters"] > 0
