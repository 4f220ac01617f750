"""PyTorch's own example programs, unmodified, run by ``numtorch run``.

Each program is copied to a temporary folder and run with the command line of the collection's
``run_python_examples.sh`` (``--epochs 1 --dry-run`` and the like), with its data made offline:
MNIST from the shared test set laid out as torchvision expects (``data/MNIST/raw/``), the word
language model's corpus from Tiny Shakespeare. A program passes when it exits 0, prints its own
success lines, and its figures are sane (finite loss that falls, accuracy above chance). Runs that
take over a minute are ``slow``; a shorter one (a smaller data set, fewer words) stays in the fast
suite. ``PASSING`` lists the programs that run, and docs/compat.md's table must agree with it.
"""
from __future__ import annotations

import gzip
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT.parent / "shared" / "pytorch-examples"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}

# program -> what runs of it (the doc's table is checked against this)
PASSING = {
    "regression": "main.py --epochs 1",
    "mnist": "main.py --epochs 1 --dry-run",
    "mnist_rnn": "main.py --epochs 1 --dry-run",
    "mnist_forward_forward": "main.py --epochs 1 --no_accel",
    "mnist_hogwild": "main.py --epochs 1 --dry-run",
    "word_language_model": "main.py --epochs 1 --dry-run; generate.py (LSTM and Transformer)",
    "vae": "main.py --epochs 1",
    "siamese_network": "main.py --epochs 1 --dry-run",
    "imagenet": "main.py --epochs 1 sample/",
    "dcgan": "main.py --dataset fake --dry-run",
    "gcn": "main.py --epochs 1 --dry-run",
    "gat": "main.py --epochs 1 --dry-run",
}


@pytest.fixture(scope="module")
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"PyTorch's examples not found at {EXAMPLES}")
    return EXAMPLES


def copy_example(examples: Path, name: str, tmp_path: Path) -> Path:
    """A fresh copy of ``examples/name`` under ``tmp_path`` (its ``../data`` is ``tmp_path/data``)."""
    folder = tmp_path / name
    shutil.copytree(examples / name, folder)
    return folder


def run(folder: Path, *args, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """``numtorch run ARGS`` in ``folder``; fails the test with the program's stderr if it does not exit 0."""
    out = subprocess.run([sys.executable, "-m", "numtorch", "run", *map(str, args)], cwd=folder, env=env or ENV,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"exit {out.returncode}\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
    return out


def floats(pattern: str, text: str) -> list:
    """Every number the regex's first group captures in ``text``."""
    return [float(m) for m in re.findall(pattern, text)]


# ---- data ------------------------------------------------------------------------------------

def _read_idx_gz(path: Path) -> tuple:
    raw = gzip.decompress(path.read_bytes())
    magic, n = struct.unpack(">ii", raw[:8])
    header = 16 if magic == 2051 else 8
    return raw[:header], np.frombuffer(raw, np.uint8, offset=header), n


def mnist_raw(folder: Path, data_dir: Path, n: int | None = None) -> None:
    """torchvision's ``MNIST/raw`` in ``folder``: the shared 10k test set as both splits (its first
    ``n`` images when given, written as uncompressed IDX files)."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for kind in ("images-idx3", "labels-idx1"):
        src = data_dir / "mnist" / f"t10k-{kind}-ubyte.gz"
        for split in ("train", "t10k"):
            if n is None:
                (raw / f"{split}-{kind}-ubyte.gz").symlink_to(src)
                continue
            header, body, total = _read_idx_gz(src)
            per_item = body.size // total
            header = header[:4] + struct.pack(">i", n) + header[8:]
            (raw / f"{split}-{kind}-ubyte").write_bytes(header + body[:n * per_item].tobytes())


def test_mnist_raw_is_what_the_loader_reads(tmp_path: Path, data_dir: Path) -> None:
    """The small MNIST the fast tests use: the first n images and labels of the shared set."""
    from numtorch.vision.datasets import MNIST
    mnist_raw(tmp_path, data_dir, n=300)
    ds = MNIST(str(tmp_path), train=True)
    assert len(ds) == 300 and tuple(ds.data.shape) == (300, 28, 28)
    assert ds.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the data README's first labels


def shakespeare_corpus(folder: Path, data_dir: Path, lines: int | None = None) -> None:
    """``data/wikitext-2/{train,valid,test}.txt``: Tiny Shakespeare's lines (the first ``lines``), 80/10/10."""
    text = (data_dir / "tinyshakespeare" / "input.txt").read_text().splitlines(keepends=True)[:lines]
    a, b = int(len(text) * 0.8), int(len(text) * 0.9)
    out = folder / "data" / "wikitext-2"
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", text[:a]), ("valid", text[a:b]), ("test", text[b:])):
        (out / f"{name}.txt").write_text("".join(part))


def vocabulary_size(folder: Path) -> int:
    """Words of the corpus plus ``<eos>``: the program's ``ntokens``; ln of it is the loss of guessing."""
    words = set()
    for name in ("train", "valid", "test"):
        words.update((folder / "data" / "wikitext-2" / f"{name}.txt").read_text().split())
    return len(words) + 1


CORA_CLASSES = ("Case_Based", "Genetic_Algorithms", "Neural_Networks", "Probabilistic_Methods",
                "Reinforcement_Learning", "Rule_Learning", "Theory")


def cora(folder: Path, nodes: int = 1700, edges: int = 3400, words: int = 1433) -> Path:
    """A synthetic Cora in the data set's own format, in ``folder/cora``: ``cora.content`` has a line
    ``<paper_id> <words 0/1 features> <class>`` per paper, ``cora.cites`` ``<cited_id> <citing_id>``
    per citation. Enough papers that the programs' splits ([:1000], [1000:1500], [1500:] for gcn,
    [:1200], [1200:1600], [1600:] for gat) are all non-empty (the real one has 2708 and 5429)."""
    rng = np.random.default_rng(0)
    ids = rng.choice(1_200_000, size=nodes, replace=False) + 35
    labels = rng.integers(0, len(CORA_CLASSES), nodes)
    # words: ~18 per paper, half of them from its class's own 40 topic words (so the class can be learned)
    p = np.full((len(CORA_CLASSES), words), 9 / words)
    for c in range(len(CORA_CLASSES)):
        p[c, 40 * c:40 * (c + 1)] += 9 / 40
    feats = (rng.random((nodes, words)) < p[labels]).astype(int)
    feats[np.arange(nodes), rng.integers(0, words, nodes)] = 1  # every paper has a word
    # citations: 80% between papers of the same class, as in Cora
    cited = rng.integers(0, nodes, edges)
    by_class = [np.flatnonzero(labels == c) for c in range(len(CORA_CLASSES))]
    citing = np.array([rng.choice(by_class[labels[a]]) if rng.random() < 0.8 else rng.integers(nodes)
                       for a in cited])
    out = folder / "cora"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cora.content").write_text("".join(
        f"{i}\t" + "\t".join(map(str, f)) + f"\t{CORA_CLASSES[c]}\n" for i, f, c in zip(ids, feats, labels)))
    (out / "cora.cites").write_text("".join(f"{ids[a]}\t{ids[b]}\n" for a, b in zip(cited, citing)))
    return out


REQUESTS_STAND_IN = '''"""requests.get(url, stream=True) over the local file $CORA_TGZ (no network in the tests)."""
import os


class _Response:
    def __init__(self, path):
        self.raw = open(path, "rb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.raw.close()


def get(url, stream=False, **kwargs):
    return _Response(os.environ["CORA_TGZ"])
'''


def offline_requests(tmp_path: Path) -> dict:
    """The environment for a program that downloads Cora: ``requests`` is a stand-in (first on
    PYTHONPATH) whose ``get`` streams a local cora.tgz made from the synthetic data set."""
    import tarfile
    source = cora(tmp_path / "download")
    tgz = tmp_path / "cora.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(source, arcname="cora")
    shim = tmp_path / "stand_in"
    shim.mkdir()
    (shim / "requests.py").write_text(REQUESTS_STAND_IN)
    return {**ENV, "CORA_TGZ": str(tgz), "PYTHONPATH": os.pathsep.join([str(shim), ENV["PYTHONPATH"]])}


# ---- the programs ----------------------------------------------------------------------------

def test_regression(examples: Path, tmp_path: Path) -> None:
    """Fits a degree-4 polynomial until the smooth-L1 loss is below 1e-3 (the program's own stop)."""
    out = run(copy_example(examples, "regression", tmp_path), "main.py", "--epochs", "1").stdout
    (loss, batches), = re.findall(r"Loss: ([\d.]+) after (\d+) batches", out)
    assert float(loss) < 1e-3 and int(batches) > 1
    learned = floats(r"([+-][\d.]+) x\^", out.split("Learned function:")[1].split("\n")[0])
    actual = floats(r"([+-][\d.]+) x\^", out.split("Actual function:")[1].split("\n")[0])
    assert len(learned) == len(actual) == 4
    np.testing.assert_allclose(learned, actual, atol=0.5)  # the fit is close where the loss is small


def _mnist_test_line(out: str) -> tuple:
    (loss, correct, total), = re.findall(r"Test set: Average loss: ([\d.]+), Accuracy: (\d+)/(\d+)", out)
    return float(loss), int(correct), int(total)


def _train_losses(out: str) -> list:
    return floats(r"Train Epoch: \d+ \[.*?\]\s+Loss: ([\d.]+)", out)


@pytest.mark.parametrize("name", ["mnist", "mnist_rnn"])
def test_mnist_dry_run(examples: Path, tmp_path: Path, data_dir: Path, name: str) -> None:
    """The run script's ``--epochs 1 --dry-run`` (one training batch), on 2000 images."""
    folder = copy_example(examples, name, tmp_path)
    mnist_raw(tmp_path / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1", "--dry-run").stdout
    losses = _train_losses(out)
    assert len(losses) == 1 and 0 < losses[0] < 2 * math.log(10)  # finite, near ln 10 at the start
    loss, correct, total = _mnist_test_line(out)
    assert math.isfinite(loss) and total == 2000 and 0 < correct <= total


@pytest.mark.slow
@pytest.mark.parametrize("name, accuracy, fall", [("mnist", 0.9, 0.5), ("mnist_rnn", 0.3, 0.85)])
def test_mnist_one_epoch(examples: Path, tmp_path: Path, data_dir: Path, name: str, accuracy: float,
                         fall: float) -> None:
    """One whole epoch on the 10k images: the loss falls (to ``fall`` of its start) and the accuracy
    is far above chance (10%). (The LSTM learns slowly: one epoch takes it to about 45%.)"""
    folder = copy_example(examples, name, tmp_path)
    mnist_raw(tmp_path / "data", data_dir)
    out = run(folder, "main.py", "--epochs", "1", timeout=3600).stdout
    losses = _train_losses(out)
    assert len(losses) > 10 and np.mean(losses[-3:]) < fall * losses[0]
    loss, correct, total = _mnist_test_line(out)
    assert total == 10000 and correct / total > accuracy


def _errors(out: str) -> tuple:
    return floats(r"train error: ([\d.]+)", out)[0], floats(r"test error: ([\d.]+)", out)[0]


def test_mnist_forward_forward(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """The run script's ``--epochs 1 --no_accel`` (one step per layer) on 2000 images: it trains both
    layers and reports its errors. (One step leaves the error near chance in PyTorch too.)"""
    folder = copy_example(examples, "mnist_forward_forward", tmp_path)
    mnist_raw(folder / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1", "--no_accel").stdout
    assert out.count("training layer: ") == 2
    assert all(math.isfinite(v) and v > 0 for v in floats(r"Loss:\s+([\d.e+-]+)", out))
    assert all(0 <= e <= 1 for e in _errors(out))


@pytest.mark.slow
def test_mnist_forward_forward_learns(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """With 200 steps per layer on 5000 images the forward-forward net's loss falls and its error is
    far below chance (0.9; it reaches about 0.27)."""
    folder = copy_example(examples, "mnist_forward_forward", tmp_path)
    mnist_raw(folder / "data", data_dir, n=5000)
    out = run(folder, "main.py", "--epochs", "200", "--no_accel", "--log-interval", "50", timeout=3600).stdout
    losses = floats(r"Loss:\s+([\d.e+-]+)", out)
    assert len(losses) == 8 and losses[3] < 0.8 * losses[0] and losses[7] < 0.8 * losses[4]  # both layers
    train_error, test_error = _errors(out)
    assert train_error < 0.5 and test_error < 0.5


def test_mnist_hogwild_dry_run(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """Two processes (started with ``spawn``) train one model in shared memory, one batch each."""
    folder = copy_example(examples, "mnist_hogwild", tmp_path)
    mnist_raw(tmp_path / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1", "--dry-run").stdout
    lines = re.findall(r"(\d+)\tTrain Epoch: 1 \[0/2000 \(0%\)\]\tLoss: ([\d.]+)", out)
    assert len({pid for pid, _ in lines}) == 2 and all(0 < float(v) < 2 * math.log(10) for _, v in lines)
    loss, correct, total = _mnist_test_line(out)
    assert math.isfinite(loss) and total == 2000 and correct > 0


@pytest.mark.slow
def test_mnist_hogwild_one_epoch(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """A whole epoch in two processes: the parent's model, never trained by the parent itself, is far
    above chance -- the children's updates reached it through shared memory."""
    folder = copy_example(examples, "mnist_hogwild", tmp_path)
    mnist_raw(tmp_path / "data", data_dir)
    out = run(folder, "main.py", "--epochs", "1", timeout=3600).stdout
    loss, correct, total = _mnist_test_line(out)
    assert total == 10000 and correct / total > 0.8


def _language_model(examples, tmp_path, data_dir, model: str, lines, words: int | None) -> tuple:
    folder = copy_example(examples, "word_language_model", tmp_path)
    shakespeare_corpus(folder, data_dir, lines)
    out = run(folder, "main.py", "--model", model, "--epochs", "1", "--dry-run").stdout
    gen = run(folder, "generate.py", *(["--words", words] if words else [])).stdout
    valid, = floats(r"valid loss\s+([\d.]+)", out)
    test, = floats(r"test loss\s+([\d.]+)", out)
    generated = (folder / "generated.txt").read_text().split()
    return folder, valid, test, gen, generated


@pytest.mark.parametrize("model", ["LSTM", "Transformer"])
def test_word_language_model(examples: Path, tmp_path: Path, data_dir: Path, model: str) -> None:
    """``main.py --epochs 1 --dry-run`` (saves the whole model with ``torch.save(model, f)`` and loads
    it back under ``safe_globals``), then ``generate.py`` from that file, on 3000 lines of Shakespeare."""
    folder, valid, test, gen, generated = _language_model(examples, tmp_path, data_dir, model, 3000, 50)
    chance = math.log(vocabulary_size(folder))
    assert math.isfinite(valid) and math.isfinite(test)
    if model == "LSTM":  # one SGD step at lr 20 lowers the LSTM's loss below guessing; it makes the
        assert valid < chance and test < chance  # Transformer's loss rise instead, in PyTorch as well
    assert "| Generated 0/50 words" in gen and len(generated) == 50


@pytest.mark.slow
@pytest.mark.parametrize("model", ["LSTM", "Transformer"])
def test_word_language_model_whole_corpus(examples: Path, tmp_path: Path, data_dir: Path, model: str) -> None:
    """The run script's command lines on all of Tiny Shakespeare, generating the default 1000 words."""
    folder, valid, test, gen, generated = _language_model(examples, tmp_path, data_dir, model, None, None)
    assert math.isfinite(valid) and math.isfinite(test)
    if model == "LSTM":
        assert valid < math.log(vocabulary_size(folder))
    assert "| Generated 900/1000 words" in gen and len(generated) == 1000


def test_vae(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """``--epochs 1`` on 2000 images: the loss falls, the test loss is finite, and the program's
    ``save_image`` grids are written."""
    folder = copy_example(examples, "vae", tmp_path)
    mnist_raw(tmp_path / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1").stdout
    losses = _train_losses(out)
    epoch_loss, = floats(r"====> Epoch: 1 Average loss: ([\d.]+)", out)
    test_loss, = floats(r"====> Test set loss: ([\d.]+)", out)
    assert losses[-1] < losses[0] and math.isfinite(epoch_loss) and math.isfinite(test_loss)
    assert test_loss < losses[0]  # per image, below the loss of the untrained model
    from PIL import Image
    for name in ("sample_1.png", "reconstruction_1.png"):
        with Image.open(folder / "results" / name) as im:
            assert im.format == "PNG" and min(im.size) >= 28


def test_siamese_network_dry_run(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """``--epochs 1 --dry-run``: a ResNet-18 (``torchvision.models.resnet18(weights=None)``) on pairs of
    2000 images, one training batch, then the test pass."""
    folder = copy_example(examples, "siamese_network", tmp_path)
    mnist_raw(tmp_path / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1", "--dry-run").stdout
    losses = _train_losses(out)
    assert len(losses) == 1 and 0 < losses[0] < 2 * math.log(2) + 1  # binary cross-entropy, untrained
    loss, correct, total = _mnist_test_line(out)
    assert math.isfinite(loss) and 0 < correct <= total


@pytest.mark.slow
def test_siamese_network_one_epoch(examples: Path, tmp_path: Path, data_dir: Path) -> None:
    """One epoch on 2000 images: same-or-different digit pairs told apart above chance (50%)."""
    folder = copy_example(examples, "siamese_network", tmp_path)
    mnist_raw(tmp_path / "data", data_dir, n=2000)
    out = run(folder, "main.py", "--epochs", "1", timeout=3600).stdout
    loss, correct, total = _mnist_test_line(out)
    assert correct / total > 0.55


def test_imagenet_one_image(examples: Path, tmp_path: Path) -> None:
    """The run script's ``main.py --epochs 1 sample/`` on a one-image ImageFolder made here: ResNet-18
    trains one step, validates, and saves its checkpoint and best model (read back by numtorch.load)."""
    from PIL import Image
    folder = copy_example(examples, "imagenet", tmp_path)
    pixels = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    for split in ("train", "val"):
        (folder / "sample" / split / "n").mkdir(parents=True)
        Image.fromarray(pixels).save(folder / "sample" / split / "n" / "photo.jpg")
    out = run(folder, "main.py", "--epochs", "1", "sample/").stdout
    assert "=> creating model 'resnet18'" in out
    train_loss, = floats(r"Epoch: \[0\]\[1/1\].*?Loss ([\d.e+-]+) ", out)
    assert 0 < train_loss < 2 * math.log(1000)  # 1000 classes, untrained
    assert re.search(r"\*\s+Acc@1 [\d.]+ Acc@5 [\d.]+", out)
    import numtorch
    checkpoint = numtorch.load(folder / "checkpoint.pth.tar")
    assert checkpoint["epoch"] == 1 and checkpoint["arch"] == "resnet18"
    assert "fc.weight" in checkpoint["state_dict"] and (folder / "model_best.pth.tar").is_file()


def test_dcgan_fake_data_dry_run(examples: Path, tmp_path: Path) -> None:
    """``--dataset fake --dry-run``: one step of the generator and the discriminator on FakeData, the
    image grids and both networks' state_dicts saved."""
    folder = copy_example(examples, "dcgan", tmp_path)
    out = subprocess.run([sys.executable, "-m", "numtorch", "run", "main.py", "--dataset", "fake", "--dry-run"],
                         cwd=folder, env=ENV, capture_output=True, text=True, timeout=900)
    missing = re.match(r"numtorch run: (\S+) is not in numtorch", out.stderr)
    if missing:
        pytest.xfail(f"{missing.group(1)} is not in numtorch yet")
    assert out.returncode == 0, out.stderr[-3000:]
    (loss_d, loss_g, d_x), = re.findall(r"\[0/\d+\]\[0/\d+\] Loss_D: ([\d.]+) Loss_G: ([\d.]+) D\(x\): ([\d.]+)",
                                       out.stdout)
    assert all(math.isfinite(float(v)) for v in (loss_d, loss_g)) and 0 <= float(d_x) <= 1
    for name in ("real_samples.png", "fake_samples_epoch_000.png", "netG_epoch_0.pth", "netD_epoch_0.pth"):
        assert (folder / name).is_file(), name
    assert "dcgan" in PASSING, "dcgan runs now: add it to PASSING and to docs/compat.md's table"


def _epoch_lines(out: str) -> list:
    """(loss_train, acc_train, loss_val, acc_val) of each epoch line the graph programs print."""
    pattern = r"loss_train: ([\d.]+) acc_train: ([\d.]+) loss_val: ([\d.]+) acc_val: ([\d.]+)"
    return [tuple(map(float, m)) for m in re.findall(pattern, out)]


def _cora_test_line(out: str) -> tuple:
    (loss, acc), = re.findall(r"Test set results: loss ([\d.]+) accuracy ([\d.]+)", out)
    return float(loss), float(acc)


def test_gcn_dry_run(examples: Path, tmp_path: Path) -> None:
    """``--epochs 1 --dry-run``: Cora "downloaded" (a local .tgz through a stand-in ``requests``),
    normalised with sparse products (D^-1/2 A D^-1/2), one Adam step through ``torch.spmm``."""
    env = offline_requests(tmp_path)
    folder = copy_example(examples, "gcn", tmp_path)
    out = run(folder, "main.py", "--epochs", "1", "--dry-run", env=env).stdout
    assert "Downloading dataset..." in out and (folder / "cora" / "cora.content").is_file()
    loss, acc = _cora_test_line(out)
    assert abs(loss - math.log(7)) < 0.1 and 0 <= acc <= 1  # 7 classes, barely trained


@pytest.mark.slow
def test_gcn_learns(examples: Path, tmp_path: Path) -> None:
    """The README's command (200 epochs, bias): the test accuracy is far above chance (1/7) on the
    synthetic Cora, whose classes show in the words and the citations."""
    env = offline_requests(tmp_path)
    out = run(copy_example(examples, "gcn", tmp_path), "main.py", "--epochs", "200", "--include-bias", env=env).stdout
    epochs = _epoch_lines(out)
    assert len(epochs) == 10 and epochs[-1][0] < epochs[0][0]
    loss, acc = _cora_test_line(out)
    assert loss < 1.0 and acc > 0.6


def test_gat_dry_run(examples: Path, tmp_path: Path) -> None:
    """``--epochs 1 --dry-run`` with ./cora present (so no download): 8 attention heads over the
    dense adjacency made from a sparse one (``torch.eye(V) + sparse_coo_tensor(...)``)."""
    env = offline_requests(tmp_path)  # (gat imports requests even when the data is there)
    folder = copy_example(examples, "gat", tmp_path)
    cora(folder)
    out = run(folder, "main.py", "--epochs", "1", "--dry-run", env=env).stdout
    assert "Dataset already downloaded..." in out
    loss, acc = _cora_test_line(out)
    assert abs(loss - math.log(7)) < 0.1 and 0 <= acc <= 1


@pytest.mark.slow
def test_gat_learns(examples: Path, tmp_path: Path) -> None:
    """Eight epochs, each printed: the training loss falls every epoch and the validation accuracy
    ends far above chance (1/7)."""
    env = offline_requests(tmp_path)
    folder = copy_example(examples, "gat", tmp_path)
    cora(folder)
    out = run(folder, "main.py", "--epochs", "8", "--val-every", "1", env=env).stdout
    train_losses = [e[0] for e in _epoch_lines(out)]
    assert len(train_losses) == 8 and all(b < a for a, b in zip(train_losses, train_losses[1:]))
    assert _epoch_lines(out)[-1][3] > 0.5


# ---- the documentation -----------------------------------------------------------------------

def test_compat_doc_lists_the_passing_examples() -> None:
    """docs/compat.md's table of example programs says "runs" exactly for the programs tested here."""
    text = (ROOT / "docs" / "compat.md").read_text()
    section = text.split("## PyTorch's example programs")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([\w-]+)` \| (runs|missing[^|]*|not run[^|]*) \|", section, flags=re.M)
    running = {name for name, status in rows if status == "runs"}
    assert running == set(PASSING), f"docs/compat.md says {sorted(running)} run; the tests run {sorted(PASSING)}"
    everything = {p.name for p in EXAMPLES.iterdir() if p.is_dir()} if EXAMPLES.is_dir() else set()
    assert everything <= {name for name, _ in rows}, "every example program has a row"
