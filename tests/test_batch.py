"""The batch plan of `superres upscale`, without a model: jobs, their one output path each,
and what is left out, as data."""

from __future__ import annotations

from pathlib import Path

from superres.batch import Job, OutputNaming, collect_inputs, output_path, plan_batch


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_inputs_expand_folders_and_globs_and_report_the_rest(tmp_path):
    folder = tmp_path / "in"
    _touch(folder / "a.png", folder / "sub/b.jpg", folder / "notes.txt", folder / ".c.png")
    found = collect_inputs([str(tmp_path / "in"), str(tmp_path / "in/a.png"), str(tmp_path / "none*.png")])
    assert [job.source.name for job in found.jobs] == ["a.png"]  # named twice: one job, as found first
    assert found.missing == [str(tmp_path / "none*.png")] and [p.name for p in found.other] == ["notes.txt"]
    deep = collect_inputs([str(tmp_path / "in")], recursive=True)
    assert [job.relative for job in deep.jobs] == [Path("a.png"), Path("sub/b.jpg")]
    assert all(job.found for job in deep.jobs)


def test_output_paths_keep_the_folder_layout_and_ome_names(tmp_path):
    naming = OutputNaming(str(tmp_path / "out"), "_x4", "tif")
    job = Job(tmp_path / "in/sub/cells.ome.tif", Path("sub/cells.ome.tif"), found=True)
    assert output_path(job, naming, single_file=False) == tmp_path / "out/sub/cells_x4.ome.tif"
    beside = OutputNaming(None, "_x2", "weird")  # not a format superres writes: PNG
    assert output_path(job, beside, single_file=True) == tmp_path / "in/sub/cells_x2.png"
    one = OutputNaming(str(tmp_path / "big.jpg"), "_x2")
    assert output_path(job, one, single_file=True) == tmp_path / "big.jpg"


def test_the_plan_computes_each_output_once_and_returns_what_it_left_out(tmp_path):
    _touch(tmp_path / "photo.png", tmp_path / "photo.bmp", tmp_path / "a.png", tmp_path / "a_x2.png")
    inputs = collect_inputs([str(tmp_path / "*.png"), str(tmp_path / "photo.bmp")])
    plan = plan_batch(inputs, OutputNaming(None, "_x2", "png"), skip_existing=True)
    assert plan.earlier == [tmp_path / "a_x2.png"]  # this run's own output for a.png, from an earlier run
    assert plan.skipped == [tmp_path / "a.png"]  # a_x2.png exists
    assert [(job.source.name, job.target) for job in plan.jobs] == [("photo.png", tmp_path / "photo_x2.png")]
    assert plan.clashes == [
        f"{tmp_path / 'photo.bmp'}: its output {tmp_path / 'photo_x2.png'} is {tmp_path / 'photo.png'}'s"
        " output too; nothing was written for it (use --suffix, --ext or another -o folder)"
    ]
    assert plan.problem is None and not any(job.overwrites_input for job in plan.jobs)


def test_an_output_that_is_an_input_and_one_image_for_many_inputs_are_flagged(tmp_path):
    _touch(tmp_path / "a.png", tmp_path / "b.png")
    inputs = collect_inputs([str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    plan = plan_batch(inputs, OutputNaming(None, "", "png"))
    assert [job.overwrites_input for job in plan.jobs] == [True, True]
    plan = plan_batch(inputs, OutputNaming(str(tmp_path / "one.png"), "_x2"))
    assert plan.jobs == [] and str(plan.problem) == (
        f"{tmp_path / 'one.png'}: -o names one image, but there are 2 inputs: give a folder"
    )


def _tree_with_links_out_and_loops(tmp_path: Path) -> Path:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    _touch(tree / "a.png", tree / "sub/b.png", outside / "c.png")
    (tree / "out").symlink_to(outside, target_is_directory=True)
    (tree / "sub/loop").symlink_to(tree, target_is_directory=True)
    (tree / "sub/loop2").symlink_to(tree / "sub", target_is_directory=True)
    return tree


def test_recursive_globs_walk_as_folders_do_into_no_symlinked_folder(tmp_path, monkeypatch):
    """``**`` walks as a folder input does: a symlink loop ends, and a link out of the tree
    puts no input (so no result) outside it."""
    tree = _tree_with_links_out_and_loops(tmp_path)
    by_glob = collect_inputs([str(tree / "**" / "*.png")], recursive=True)
    by_folder = collect_inputs([str(tree)], recursive=True)
    assert [job.source for job in by_glob.jobs] == [tree / "a.png", tree / "sub/b.png"]
    assert [job.source for job in by_folder.jobs] == [job.source for job in by_glob.jobs]
    monkeypatch.chdir(tmp_path)
    relative = collect_inputs(["tree/**/*.png"], recursive=True)
    assert [job.source for job in relative.jobs] == [Path("tree/a.png"), Path("tree/sub/b.png")]
