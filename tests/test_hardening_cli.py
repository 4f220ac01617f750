"""The ``numtorch`` command against hostile arguments: every bad input is one line on stderr and a
non-zero exit, found before any training; a diverging run writes no checkpoint; the files a run
writes are valid JSON with the usual permissions."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

import numtorch
from numtorch.cli import common
from numtorch.cli.main import main


def run_cli(capsys, *args) -> tuple:
    """``numtorch ARGS`` in this process: (exit status, stdout, stderr lines)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err.strip().splitlines()


def one_line(lines: list, *phrases: str) -> str:
    assert len(lines) == 1, lines
    assert lines[0].startswith("numtorch ") and "Traceback" not in lines[0], lines
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One epoch of the two-layer net on the digits (in this process)."""
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


# ---- --out is checked before training ------------------------------------------------------------

@pytest.mark.parametrize("where", ["/proc/nope", "file"])
def test_unwritable_out_fails_before_training(capsys, tmp_path, where):
    out = tmp_path / "a_file" if where == "file" else Path(where)
    if where == "file":
        out.write_text("x")
    start = time.perf_counter()
    rc, stdout, err = run_cli(capsys, "train", "--epochs", "50", "--out", out, "--quiet")
    assert rc == 1 and "epoch" not in stdout
    one_line(err, f"--out {out}")
    assert time.perf_counter() - start < 10  # not 50 epochs of training


def test_unwritable_out_for_gpt_fails_before_training(capsys, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello world " * 50)
    rc, stdout, err = run_cli(capsys, "train", "--model", "gpt", "--text", text, "--steps", "10000",
                              "--out", "/proc/nope", "--quiet")
    assert rc == 1 and "step" not in stdout
    one_line(err, "--out /proc/nope")


# ---- learning rates and a diverging run ---------------------------------------------------------

@pytest.mark.parametrize("lr", ["inf", "-inf", "nan", "0", "-1", "abc"])
def test_bad_lr_rejected_at_parse_time(capsys, lr):
    rc, _, err = run_cli(capsys, "train", f"--lr={lr}")
    assert rc == 2
    one_line(err, "argument --lr", lr)


def test_diverging_run_stops_without_a_checkpoint(capsys, tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--lr", "1e30", "--epochs", "3", "--out", out, "--quiet")
    assert rc == 1
    one_line(err, "the loss became", "diverged", "no checkpoint written")
    assert not out.exists() or list(out.iterdir()) == []   # nothing half-written; the empty folder goes


def test_diverging_gpt_stops_without_a_checkpoint(capsys, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    out = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--model", "gpt", "--text", text, "--lr", "1e30", "--steps", "20",
                         "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "8",
                         "--batch-size", "4", "--out", out, "--quiet")
    assert rc == 1
    one_line(err, "the loss became", "no checkpoint written")
    assert not (out / common.CHECKPOINT_NAME).exists()


def test_json_never_holds_nan():
    text = common.dump_json({"loss": [1.0, float("nan"), float("inf")], "n": 3, "x": {"y": -math.inf}})

    def refuse(name):
        raise AssertionError(f"{name} in JSON")

    assert json.loads(text, parse_constant=refuse) == {"loss": [1.0, None, None], "n": 3, "x": {"y": None}}


# ---- seeds, temperatures, token counts ------------------------------------------------------------

@pytest.mark.parametrize("command", [["train"], ["lr-search"], ["gradcheck"], ["generate", "ck.safetensors"]])
@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5"])
def test_bad_seed_names_the_option(capsys, command, seed):
    rc, _, err = run_cli(capsys, *command, "--seed", seed)
    assert rc == 2
    one_line(err, "argument --seed", seed)


def test_largest_seed_is_accepted():
    assert common.seed_int(str(2**64 - 1)) == 2**64 - 1


@pytest.mark.parametrize("t", ["-1", "-0.5", "inf", "nan"])
def test_negative_temperature_is_rejected(capsys, t):
    rc, _, err = run_cli(capsys, "generate", "ck.safetensors", "--temperature", t)
    assert rc == 2
    one_line(err, "argument --temperature", t)


def test_too_many_tokens_is_rejected(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "generate", tmp_path / "ck.safetensors", "--tokens", "100000000")
    assert rc == 1
    one_line(err, "--tokens must be from 0 to 100,000", "100,000,000")


# ---- detect on a huge image -------------------------------------------------------------------------

def test_huge_image_is_refused_before_decoding(capsys, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    big = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(big)
    rc, _, err = run_cli(capsys, "detect", tmp_path / "ck.safetensors", big)
    assert rc == 1
    one_line(err, "3000x2000", "6.0 M pixels", "at most 4.2 M pixels")


# ---- reasons are kept -------------------------------------------------------------------------------

def test_shape_mismatch_keeps_every_reason():
    from numtorch.models import TwoLayerNet
    ckpt = {"model": TwoLayerNet(64, 50, 10).state_dict(),
            "config": {"model": "mlp", "image_shape": [1, 8, 8], "hidden": 100, "classes": list("0123456789")}}
    with pytest.raises(common.CLIError) as info:
        common.model_from_checkpoint(ckpt)
    msg = str(info.value)
    assert "\n" not in msg
    for key, theirs, ours in (("fc1.weight", "[50, 64]", "[100, 64]"), ("fc1.bias", "[50]", "[100]"),
                              ("fc2.weight", "[10, 50]", "[10, 100]")):
        assert f"size mismatch for {key}" in msg and theirs in msg and ours in msg, msg


# ---- the files of a run ---------------------------------------------------------------------------------

def test_run_files_have_the_umask_mode_and_strict_json(run_dir):
    for name in (common.CHECKPOINT_NAME, "history.json", "curves.png"):
        path = run_dir / name
        if name == "curves.png" and not path.exists():
            continue  # matplotlib missing
        assert path.stat().st_mode & 0o777 == _umask_mode(), name
    json.loads((run_dir / "history.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_checkpoint_name_run_folder_and_old_name(capsys, run_dir, tmp_path):
    assert (run_dir / "checkpoint.safetensors").is_file() and not (run_dir / "checkpoint.pt").exists()
    rc, out, _ = run_cli(capsys, "eval", run_dir)                 # the run folder names its checkpoint
    assert rc == 0 and "held-out split" in out
    old = tmp_path / "old"
    old.mkdir()
    (old / "checkpoint.pt").write_bytes((run_dir / "checkpoint.safetensors").read_bytes())
    rc, out2, _ = run_cli(capsys, "eval", old / "checkpoint.pt")  # earlier versions' name, same format
    assert rc == 0 and out2 == out
    rc, out3, _ = run_cli(capsys, "eval", old)
    assert rc == 0 and out3 == out
    rc, _, err = run_cli(capsys, "eval", run_dir / "checkpoint.pt")
    assert rc == 1
    one_line(err, "checkpoint not found", "did you mean", "checkpoint.safetensors")


def test_pytorch_reads_the_checkpoint_with_safetensors(run_dir, torch):
    """What docs/training.md says: safetensors.torch.load_file opens it; the model. keys are a state_dict."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    path = str(run_dir / common.CHECKPOINT_NAME)
    flat = load_file(path)
    sd = {k[6:]: v for k, v in flat.items() if k.startswith("model.")}
    ref = torch.nn.Sequential()
    ref.add_module("fc1", torch.nn.Linear(64, 100))
    ref.add_module("relu", torch.nn.ReLU())
    ref.add_module("fc2", torch.nn.Linear(100, 10))
    ref.load_state_dict(sd)
    with safe_open(path, "pt") as f:
        config = dict(json.loads(f.metadata()["numtorch"])["object"]["__dict__"])["config"]
    assert dict(config["__dict__"])["model"] == "mlp"
    ckpt = numtorch.load(path)
    model = common.model_from_checkpoint(ckpt)
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(model(numtorch.from_numpy(x)).detach().numpy(),
                               ref(torch.from_numpy(x.reshape(4, 64))).detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- eval of a GPT checkpoint ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt")
    text = d / "t.txt"
    rng = np.random.default_rng(0)
    text.write_text("".join(rng.choice(list("abcdefgh \n"), size=3000)))
    out = d / "run"
    assert main(["train", "--model", "gpt", "--text", str(text), "--steps", "3", "--n-layer", "1", "--n-embd", "16",
                 "--n-head", "2", "--block-size", "8", "--batch-size", "4", "--out", str(out), "--quiet"]) == 0
    return out, text


def test_eval_of_a_gpt_reports_loss_and_perplexity(capsys, gpt_run):
    out, text = gpt_run
    capsys.readouterr()
    rc, stdout, _ = run_cli(capsys, "eval", out, "--text", text, "--batch-size", "7")
    assert rc == 0
    loss = float(stdout.split("loss ")[1].split()[0])
    ppl = float(stdout.split("perplexity ")[1].split()[0])
    # the oracle: the model's logits, cross-entropy by hand in float64, on the held-out 10% of the text
    from numtorch.cli.generate import model_and_tokenizer
    model, tok = model_and_tokenizer(common.load_checkpoint(out), "cpu")
    ids = tok.encode_array(text.read_text())
    held = ids[int(len(ids) * 0.9):]
    T = 8
    n = (len(held) - 1) // T
    x, y = held[:n * T].reshape(n, T), held[1:n * T + 1].reshape(n, T)
    with numtorch.no_grad():
        logits = model(numtorch.from_numpy(x))[0].numpy().astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    ref = -np.take_along_axis(logp, y[..., None], -1).mean()
    assert abs(loss - ref) < 1e-4 and abs(ppl - math.exp(ref)) < 1e-3 * math.exp(ref)


def test_eval_of_a_gpt_without_text_says_what_to_do(capsys, gpt_run):
    rc, _, err = run_cli(capsys, "eval", gpt_run[0])
    assert rc == 1
    line = one_line(err, "--text FILE", "numtorch generate")
    assert "unknown model" not in line
