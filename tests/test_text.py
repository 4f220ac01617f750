"""numtorch.text (CharTokenizer, TextWindows, split_text) and the GPT commands of the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

import numtorch
from numtorch.text import CharTokenizer, TextWindows, split_text

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def test_tokenizer_roundtrip_and_dict():
    tok = CharTokenizer().fit(TEXT)
    assert tok.chars == "".join(sorted(set(TEXT))) and tok.vocab_size == len(set(TEXT))
    ids = tok.encode("Speak, all")
    assert ids == [sorted(set(TEXT)).index(c) for c in "Speak, all"]
    assert tok.decode(ids) == "Speak, all"
    assert tok.decode(numtorch.tensor(ids)) == "Speak, all"
    assert tok.encode_array(TEXT).tolist() == tok.encode(TEXT)
    again = CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(TEXT) == tok.encode(TEXT)
    with pytest.raises(KeyError, match="'Z' is not in the vocabulary"):
        tok.encode("Zed")
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tok.encode_array("Zed")


def test_text_windows():
    data = np.arange(10)
    ds = TextWindows(data, 4)
    assert len(ds) == 6
    x, y = ds[2]
    assert x.tolist() == [2, 3, 4, 5] and y.tolist() == [3, 4, 5, 6] and x.dtype == numtorch.int64
    assert ds[-1][1].tolist() == [6, 7, 8, 9]
    with pytest.raises(IndexError):
        ds[6]
    xb, yb = ds.batch([0, 5])
    assert xb.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8]] and yb.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]
    a = ds.sample_batch(8, numtorch.Generator().manual_seed(3))[0]
    b = ds.sample_batch(8, numtorch.Generator().manual_seed(3))[0]
    assert a.tolist() == b.tolist() and tuple(a.shape) == (8, 4)
    assert ((a.numpy()[:, 1:] - a.numpy()[:, :-1]) == 1).all()
    with pytest.raises(ValueError, match="longer than block_size"):
        TextWindows(np.arange(4), 4)


def test_split_text_keeps_the_end_held_out():
    train, held = split_text(list(range(100)))
    assert train == list(range(90)) and held == list(range(90, 100))
    with pytest.raises(ValueError):
        split_text([1, 2], 1.5)


def test_cli_train_gpt_and_generate(tmp_path, capsys, monkeypatch):
    from numtorch.cli import train_text
    from numtorch.cli.main import main
    # a tiny GPT keeps the test fast; the flags and the files are those of a full run
    for k, v in dict(block_size=16, n_layer=1, n_head=2, n_embd=16).items():
        monkeypatch.setitem(train_text.GPT_DEFAULTS, k, v)
    monkeypatch.setattr(train_text, "DEFAULT_EVAL_ITERS", 2)
    monkeypatch.setattr(train_text, "SAMPLE_TOKENS", 40)
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    out = tmp_path / "run"
    code = main(["train", "--model", "gpt", "--text", str(text), "--steps", "6", "--eval-interval", "3",
                 "--batch-size", "4", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held-out loss" in printed
    ckpt = numtorch.load(str(out / "checkpoint.safetensors"))
    assert ckpt["config"]["model"] == "gpt" and ckpt["tokenizer"]["chars"] == "".join(sorted(set(TEXT)))
    assert ckpt["config"]["n_embd"] == 16 and (out / "loss.png").stat().st_size > 0
    hist = json.loads((out / "history.json").read_text())
    assert hist["step"] == [3, 6] and len(hist["step_loss"]) == 6
    assert (out / "sample.txt").read_text()
    assert main(["generate", str(out / "checkpoint.safetensors"), "--prompt", "All:", "--tokens", "20", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("All:") and len(first.rstrip("\n")) >= 24 - first.count("\n")
    main(["generate", str(out / "checkpoint.safetensors"), "--prompt", "All:", "--tokens", "20", "--seed", "1", "--no-cache"])
    assert capsys.readouterr().out == first          # the KV cache does not change the sample


def test_cli_errors(tmp_path, capsys):
    from numtorch.cli.main import main
    assert main(["train", "--model", "gpt"]) != 0
    assert "--text" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing.pt")]) != 0
    assert "not found" in capsys.readouterr().err
