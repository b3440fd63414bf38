"""The ``gsemlab`` command: each sub-command on tiny inputs, its help, its errors, and where it writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from gsemlab import cli
from gsemlab.progress import PROGRESS_ENV, progress_bar, progress_enabled

PROMPT = "a red circle above a blue square"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(cli.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(PROGRESS_ENV, raising=False)


def test_console_script_is_declared():
    from pathlib import Path

    import tomllib

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["gsemlab"] == "gsemlab.cli:main"


@pytest.mark.parametrize("command, default", [("transmit", "(default: 0)"), ("train", "(default: 2)"),
                                              ("calibrate", "(default: 200)"), ("curves", "(default: 300)")])
def test_help_shows_defaults(command, default, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    assert default in " ".join(capsys.readouterr().out.split())


def test_transmit_writes_what_it_sent_and_scores_it(tmp_path, capsys):
    from gsemlab.calibration import load_t_max
    from gsemlab.jpsq import jpsq
    from gsemlab.packing import Packet

    out = tmp_path / "sent"
    assert cli.main(["transmit", PROMPT, "--budget", "600", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    packet = Packet.from_bytes((out / "packet.bin").read_bytes())
    # what the packet holds is what the summary and the printout say was sent, within the budget
    assert packet.n_pixels == summary["pixels_sent"] <= 600
    assert int(np.count_nonzero(packet.mask)) == packet.n_pixels
    assert summary["bytes_sent"] == (out / "packet.bin").stat().st_size
    assert packet.prompt == PROMPT
    assert f"pixels sent {packet.n_pixels} of 4096" in printed and f"bytes sent {summary['bytes_sent']}" in printed
    src, rec = (np.asarray(Image.open(out / n)) for n in ("source.png", "recovered.png"))
    assert src.shape == rec.shape == (64, 64, 3)
    # the sent pixels are the source's (through the packet's lossy VP8 coding), the user keeps them
    # where they were sent, and JPSQ is Eq. 17 of the stored D and Q
    assert np.abs(src[packet.mask].astype(int) - packet.pixels).mean() < 8
    assert np.array_equal(rec[packet.mask], packet.pixels)
    want = jpsq(summary["distance"], summary["quality"], load_t_max("toy"))
    assert summary["jpsq"] == pytest.approx(float(want))
    assert f"JPSQ {summary['jpsq']:.3f}" in printed


def test_transmit_default_budget_is_half_the_image(tmp_path):
    out = tmp_path / "half"
    assert cli.main(["transmit", PROMPT, "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["budget_pixels"] == 64 * 64 // 2


@pytest.mark.parametrize("argv, message", [
    (["transmit", PROMPT, "--budget", "0"], "whole number > 0"),
    (["transmit", PROMPT, "--budget", "half"], "whole number > 0"),
    (["transmit", "   "], "non-space"),
    (["train", "no-such-stage"], "invalid choice"),
    (["calibrate", "--n", "-3"], "whole number > 0"),
])
def test_bad_command_lines_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_train_runs_a_stage_resumably_in_the_cache(tmp_path, capsys):
    from gsemlab.training.common import load_ckpt

    cache = tmp_path / "train"
    argv = ["train", "shapes", "--steps", "3", "--minutes", "1", "--batch", "4", "--threads", "1",
            "--cache-dir", str(cache)]
    assert cli.main(argv) == 0
    ck = load_ckpt(str(cache / "shape_classifier.pt"))
    assert ck["step"] == 3 and ck["done"]
    assert cli.main(argv) == 0  # finished: the second run does nothing
    assert load_ckpt(str(cache / "shape_classifier.pt"))["step"] == 3
    assert capsys.readouterr().out.count("start at step") == 1


def test_train_default_cache_is_outside_the_package(tmp_path):
    from gsemlab.data import DATA_DIR

    before = sorted(p.name for p in DATA_DIR.iterdir())
    assert cli.main(["train", "shapes", "--steps", "2", "--minutes", "1", "--batch", "4", "--threads", "1"]) == 0
    assert (tmp_path / "cache" / "train" / "shape_classifier.pt").is_file()
    assert sorted(p.name for p in DATA_DIR.iterdir()) == before


def test_calibrate_writes_to_the_cache_not_the_package(tmp_path, capsys):
    from gsemlab.calibration import CALIBRATION_PATH, calibrate_backend
    from gsemlab.models import load_backend

    bundled = CALIBRATION_PATH.read_text()
    assert cli.main(["calibrate", "--n", "2"]) == 0
    written = json.loads((tmp_path / "cache" / "t_max.json").read_text())["toy"]
    assert CALIBRATION_PATH.read_text() == bundled
    direct = calibrate_backend(load_backend("toy", device="cpu"), 2, 0)
    assert written["n"] == 2 and written["t_max"] == pytest.approx(direct["t_max"])


def test_curves_measures_the_requested_prompts(tmp_path):
    from gsemlab.rl.curves import CurveSet

    out = tmp_path / "c.json"
    assert cli.main(["curves", "--n-train", "1", "--n-heldout", "1", "--out", str(out)]) == 0
    curves = CurveSet.from_json(str(out))
    assert len(curves) == 2 and list(curves.split) == ["train", "heldout"]


def test_bench_lists_and_runs_scripts_of_the_checkout(capsys, monkeypatch, tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.chdir(root)
    assert cli.main(["bench", "--list"]) == 0
    names = capsys.readouterr().out.split()
    assert "control" in names and "gsemcom" in names
    assert cli.main(["bench", "toy_models", "--help"]) == 0  # the script's own help: it ran
    with pytest.raises(SystemExit):
        cli.main(["bench", "no_such_bench"])
    assert "unknown benchmark" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # outside a checkout the benchmarks are not there
    with pytest.raises(SystemExit):
        cli.main(["bench", "control"])
    assert "checkout" in capsys.readouterr().err


def test_progress_bars_show_only_at_a_terminal(monkeypatch, capsys):
    assert progress_enabled() is None
    assert progress_bar(range(3)).disable  # pytest captures standard error: not a terminal
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert progress_enabled() is True
    assert list(progress_bar(range(3), desc="forced")) == [0, 1, 2]
    assert "forced" in capsys.readouterr().err
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert progress_bar(range(3)).disable
    monkeypatch.setenv(PROGRESS_ENV, "yes")
    with pytest.raises(ValueError, match=PROGRESS_ENV):
        progress_enabled()
    monkeypatch.delenv(PROGRESS_ENV)
    with pytest.raises(ValueError, match="total"):
        progress_bar(total=-1)
