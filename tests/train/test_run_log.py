"""The run log: TensorBoard, and log.jsonl across a resume."""

from __future__ import annotations

import json

import pytest

from superres.train.trainer import train
from tests.train.conftest import tiny


def test_tensorboard_logging_is_optional(tmp_path):
    from superres.train.run_log import tensorboard_writer

    writer = tensorboard_writer(tmp_path)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert writer is None  # training goes on without it
        return
    writer.add_scalar("train/l1", 0.5, 1)
    writer.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_resume_drops_log_records_the_killed_run_wrote_after_its_checkpoint(shared, tmp_path):
    recipe = tiny(tmp_path, shared, "train.iterations=8", "train.log_interval=2", "val.sets=[]")
    train(recipe, progress=False, stop_after=4)
    log = tmp_path / "tiny-test/log.jsonl"
    with open(log, "a") as f:  # what a run killed at iteration 7 had logged past checkpoint 4
        f.write(json.dumps({"iteration": 6, "l1": 1.0}) + "\n")
    train(recipe, resume=True, progress=False)
    iterations = [json.loads(line)["iteration"] for line in log.read_text().splitlines()]
    assert iterations == [2, 4, 6, 8]


def test_log_record_reports_rates_since_the_last_record_and_times_reset():
    import torch

    from superres.train.run_log import StepTimes, log_record

    times = StepTimes()
    times.add(1.0, 3.0)
    times.add(1.0, 3.0)
    record = log_record(10, 1e-3, {"l1": torch.tensor(0.1234567)}, times, batch_size=4)
    assert record == {"iteration": 10, "lr": 1e-3, "l1": 0.123457, "it_per_s": 0.25, "samples_per_s": 1.0,
                      "data_share": 0.25}  # fmt: skip
    assert list(record)[:3] == ["iteration", "lr", "l1"]  # the order log.jsonl has always had
    times.reset()
    assert times == StepTimes()


def test_drop_log_records_after_keeps_the_file_when_nothing_is_past(tmp_path):
    from superres.train.run_log import drop_log_records_after

    log = tmp_path / "log.jsonl"
    drop_log_records_after(log, 4)  # no log yet: nothing to do
    assert not log.exists()
    log.write_text("".join(json.dumps({"iteration": i}) + "\n" for i in (2, 4, 6)))
    drop_log_records_after(log, 6)
    assert len(log.read_text().splitlines()) == 3
    drop_log_records_after(log, 4)
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [2, 4]


def test_drop_log_records_after_skips_a_torn_or_non_json_line_with_a_warning(tmp_path):
    """A run killed mid-write leaves a torn last line; --resume went down on it (JSONDecodeError)."""
    from superres.train.run_log import drop_log_records_after

    log = tmp_path / "log.jsonl"
    log.write_text('{"iteration": 5}\nnot json\n{"loss": 1}\n{"iteration": 10}\n{"iteration": 15}\n{"itera')
    with pytest.warns(UserWarning, match=r"log\.jsonl: line 2 is not a log record; dropped") as caught:
        drop_log_records_after(log, 10)
    assert len(caught) == 3  # lines 2, 3 and 6
    assert log.read_text() == '{"iteration": 5}\n{"iteration": 10}\n'
