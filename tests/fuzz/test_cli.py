"""Hostile names and paths for ``superres upscale``: odd file names, symlink loops and links
out of the tree, suffixes that are paths, ``-o`` inside an input folder, and existing files
superres did not write. Each case: no traceback, the documented exit code, nothing written
outside the output place, no existing file replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import smooth_image
from tests.fuzz.conftest import assert_only_added_under, run_superres, tree_state

FAST = ("-m", "bicubic", "-s", "2", "-q")
ODD_NAMES = ["new\nline.png", "sp ace.png", "ünïcødé 😀.png", "-dash.png", "tab\there.png", "quote'\".png"]


def _image(path: Path, side: int = 6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(side, side)).save(path)
    return path


def _tree_with_links(root: Path) -> tuple[Path, Path]:
    """``root/tree`` with an image, a sub-folder, a symlink loop and a link to ``root/outside``."""
    tree, outside = root / "tree", root / "outside"
    _image(tree / "a.png")
    _image(tree / "sub" / "b.png")
    _image(outside / "c.png")
    (tree / "sub" / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "sub" / "loop2").symlink_to(tree / "sub", target_is_directory=True)
    (tree / "out").symlink_to(outside, target_is_directory=True)
    return tree, outside


def test_odd_names_in_a_folder_are_upscaled(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    for name in ODD_NAMES:
        _image(src / name)
    before = tree_state(tmp_path)
    result = run_superres("upscale", src, "-o", out, *FAST)
    assert result.code == 0, result.err
    assert_only_added_under(before, tree_state(tmp_path), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(n.replace(".png", "_x2.png") for n in ODD_NAMES)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_broken_file_with_an_odd_name_is_one_error_line(tmp_path, name):
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "good.png")
    (src / name).write_bytes(b"not an image")
    before = tree_state(tmp_path)
    result = run_superres("upscale", src / name, src / "good.png", "-o", out, *FAST)
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "not an image" in errors[0], result.err
    assert all(line.startswith(("error: ", "1 of 2 inputs failed", "  ")) for line in result.err.splitlines())
    assert_only_added_under(before, tree_state(tmp_path), out)
    assert [p.name for p in out.iterdir()] == ["good_x2.png"]


@pytest.mark.parametrize("form", ["folder", "glob"])
@pytest.mark.parametrize("to_folder", [False, True])
def test_symlink_loops_end_and_links_out_of_the_tree_are_not_followed(tmp_path, form, to_folder):
    tree, _ = _tree_with_links(tmp_path)
    target = str(tree) if form == "folder" else str(tree / "**" / "*.png")
    out = tmp_path / "result" if to_folder else tree
    before = tree_state(tmp_path)
    result = run_superres("upscale", target, "-r", *(["-o", out] if to_folder else []), *FAST)
    assert result.code == 0, result.err
    after = tree_state(tmp_path)
    assert_only_added_under(before, after, out)
    written = sorted(p.relative_to(out) for p in after.keys() - before.keys())
    expected = [Path("a_x2.png"), Path("sub/b_x2.png")] if form == "folder" or not to_folder else None
    assert written == (expected or [Path("a_x2.png"), Path("b_x2.png")])


@pytest.mark.parametrize("suffix", ["/x", "/../../escaped", "..", "a/b", "_x2\\", "_x2\0"])
def test_a_suffix_that_is_a_path_is_a_usage_error(tmp_path, suffix):
    src, out = tmp_path / "in", tmp_path / "in" / "out"
    _image(src / "a.png")
    before = tree_state(tmp_path)
    result = run_superres("upscale", src / "a.png", "-o", out, "--suffix", suffix, *FAST)
    expected = 0 if suffix == "_x2\\" else 2  # a backslash is a name's character on POSIX
    assert result.code == expected, result.err
    assert_only_added_under(before, tree_state(tmp_path), out)


def test_an_output_folder_inside_the_input_folder_is_not_upscaled_again(tmp_path):
    src = tmp_path / "in"
    _image(src / "a.png")
    _image(src / "sub" / "b.png")
    out = src / "out"
    before = tree_state(tmp_path)
    assert run_superres("upscale", src, "-r", "-o", out, *FAST).code == 0
    assert_only_added_under(before, tree_state(tmp_path), out)
    inputs = {p: state for p, state in tree_state(tmp_path).items() if not p.is_relative_to(out)}
    result = run_superres("upscale", src, "-r", "-o", out, *FAST)  # rewrites its own results
    assert result.code == 0, result.err
    assert_only_added_under(inputs, tree_state(tmp_path), out)
    assert sorted(p.relative_to(out) for p in out.rglob("*.png")) == [Path("a_x2.png"), Path("sub/b_x2.png")]


@pytest.mark.parametrize("existing", ["image", "text", "link"])
def test_an_existing_file_superres_did_not_write_is_never_replaced(tmp_path, existing):
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.png")
    _image(src / "b.png")
    theirs = out / "a_x2.png"
    if existing == "image":
        _image(theirs, side=3)
    elif existing == "text":
        out.mkdir()
        theirs.write_text("mine")
    else:
        _image(tmp_path / "elsewhere.png", side=3)
        out.mkdir()
        theirs.symlink_to(tmp_path / "elsewhere.png")
    before = tree_state(tmp_path)
    result = run_superres("upscale", src, "-o", out, *FAST)
    assert result.code == 1 and "superres did not write it; use --overwrite" in result.err
    assert_only_added_under(before, tree_state(tmp_path), out)
    assert (out / "b_x2.png").is_file()


def test_o_naming_a_users_image_replaces_it_only_with_overwrite(tmp_path):
    src = _image(tmp_path / "a.png")
    theirs = _image(tmp_path / "theirs.png", side=3)
    before = tree_state(tmp_path)
    result = run_superres("upscale", src, "-o", theirs, *FAST)
    assert result.code == 1
    assert_only_added_under(before, tree_state(tmp_path), tmp_path / "nothing")
    assert run_superres("upscale", src, "-o", theirs, "--overwrite", *FAST).code == 0
    assert Image.open(theirs).size == (12, 12)


@pytest.mark.parametrize("option", [["--outscale", "inf"], ["--outscale", "1e300"], ["--max-pixels", "nan"]])
def test_absurd_numbers_are_usage_errors(tmp_path, option):
    src = _image(tmp_path / "a.png")
    before = tree_state(tmp_path)
    result = run_superres("upscale", src, *option, *FAST)
    assert result.code == 2
    assert_only_added_under(before, tree_state(tmp_path), tmp_path / "nothing")
