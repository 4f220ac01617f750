"""SummaryWriter: event files read back by the tensorboard package, and compared with PyTorch's writer."""
from __future__ import annotations

import glob
import io
import os
import re
import socket
import struct

import numpy as np
import pytest

import numtorch as nt
from numtorch.utils.tensorboard import SummaryWriter
from numtorch.utils.tensorboard._record import crc32c, masked_crc32c

tb = pytest.importorskip("tensorboard")


def _accumulator(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    ea.Reload()
    return ea


def _events(log_dir):
    """Every Event in the one event file of ``log_dir``, parsed by TensorBoard's protobuf classes,
    after checking each record's framing and CRCs."""
    from tensorboard.compat.proto import event_pb2
    (path,) = glob.glob(os.path.join(str(log_dir), "events.out.tfevents.*"))
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == masked_crc32c(data[i:i + 8])
        payload = data[i + 12:i + 12 + n]
        assert struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] == masked_crc32c(payload)
        out.append(event_pb2.Event.FromString(payload))
        i += 16 + n
    return out


def test_crc32c_known_value():
    # the CRC-32C check value of the iSCSI standard (RFC 3720)
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_file_name_and_first_record(tmp_path):
    with SummaryWriter(tmp_path / "run", filename_suffix=".x") as w:
        w.add_scalar("a", 1.0, 0)
    (name,) = os.listdir(tmp_path / "run")
    assert re.fullmatch(rf"events\.out\.tfevents\.\d{{10}}\.{re.escape(socket.gethostname())}\.{os.getpid()}\.\d+\.x",
                        name)
    first = _events(tmp_path / "run")[0]
    assert first.file_version == "brain.Event:2"


def test_read_back_with_event_accumulator(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1000).astype(np.float32)
    img = rng.random((3, 7, 11)).astype(np.float32)
    with SummaryWriter(tmp_path) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("tensor_scalar", nt.tensor(2.5), 9)
        w.add_histogram("weights", nt.from_numpy(values), 3)
        w.add_histogram("ten_bins", values, 4, bins=10)
        w.add_image("picture", nt.from_numpy(img), 2)
        w.add_image("hwc", (img.transpose(1, 2, 0) * 255).astype(np.uint8), 2, dataformats="HWC")
        w.add_text("notes", "hello **world**", 7)
        w.add_scalars("pair", {"train": 0.5, "val": 0.75}, 1)
    ea = _accumulator(tmp_path)
    assert [(e.step, e.value) for e in ea.Scalars("loss")] == [(s, np.float32(1.0 / (s + 1))) for s in range(5)]
    assert ea.Scalars("tensor_scalar")[0].value == 2.5
    h = ea.Histograms("weights")[0]
    assert h.step == 3 and h.histogram_value.num == 1000 and sum(h.histogram_value.bucket) == 1000
    np.testing.assert_allclose(h.histogram_value.sum, values.astype(np.float64).sum(), rtol=1e-12)
    assert h.histogram_value.min == values.min() and h.histogram_value.max == values.max()
    h10 = ea.Histograms("ten_bins")[0].histogram_value
    ref_counts, ref_edges = np.histogram(values.astype(np.float64), bins=10)
    assert list(h10.bucket) == [0.0] + ref_counts.tolist()   # an empty bin in front keeps the left edge
    np.testing.assert_array_equal(h10.bucket_limit, ref_edges)
    im = ea.Images("picture")[0]
    assert (im.width, im.height) == (11, 7)
    from PIL import Image
    px = np.asarray(Image.open(io.BytesIO(im.encoded_image_string)))
    np.testing.assert_array_equal(px, (img.transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8))
    (t,) = ea.Tensors("notes/text_summary")
    assert t.step == 7 and t.tensor_proto.string_val == [b"hello **world**"]
    for sub, v in (("pair_train", 0.5), ("pair_val", 0.75)):
        sea = _accumulator(tmp_path / sub)
        assert [(e.step, e.value) for e in sea.Scalars("pair")] == [(1, v)]


def _log_everything(writer_cls, log_dir):
    rng = np.random.default_rng(1)
    vals = rng.standard_normal(500) * 3
    w = writer_cls(str(log_dir))
    for s in range(3):
        w.add_scalar("x/loss", 0.1 * s - 1, s, walltime=100.0 + s)
    w.add_scalar("nostep", 3.0, walltime=104.0)
    w.add_scalar("new", 0.1, 3, walltime=104.5, new_style=True)
    w.add_scalar("new64", 0.1, 3, walltime=104.6, new_style=True, double_precision=True)
    w.add_histogram("h", vals, 5, walltime=105.0)
    w.add_histogram("h_auto", vals, 6, bins="auto", walltime=106.0)
    w.add_histogram("h_max", vals, 6, bins=100, max_bins=7, walltime=106.5)
    w.add_histogram("h_ints", np.arange(10), 6, bins=3, walltime=106.7)
    w.add_image("gray", rng.random((5, 4)), 7, walltime=107.0, dataformats="HW")
    w.add_image("chw", rng.random((3, 4, 6)), 7, walltime=107.5)
    w.add_images("batch", rng.random((3, 1, 4, 5)), 8, walltime=108.0)
    w.add_text("t", "some text", 9, walltime=109.0)
    w.close()


def test_events_equal_pytorchs_writer(tmp_path, torch):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    _log_everything(SummaryWriter, tmp_path / "nt")
    _log_everything(TorchWriter, tmp_path / "torch")
    got, ref = _events(tmp_path / "nt"), _events(tmp_path / "torch")
    assert len(got) == len(ref)
    assert got[0].file_version == ref[0].file_version
    for g, r in zip(got[1:], ref[1:]):     # (the file_version events differ in wall time only)
        assert g == r, (g, r)


def test_purge_step_writes_session_start(tmp_path, torch):
    from tensorboard.compat.proto import event_pb2
    with SummaryWriter(tmp_path, purge_step=42) as w:
        w.add_scalar("a", 1.0, 43)
    ev = _events(tmp_path)
    assert ev[1].step == 42 and ev[1].session_log.status == event_pb2.SessionLog.START
    assert ev[2].summary.value[0].tag == "a"


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    (run,) = os.listdir(tmp_path / "runs")
    assert re.fullmatch(rf"[A-Z][a-z]{{2}}\d\d_\d\d-\d\d-\d\d_{re.escape(socket.gethostname())}_lr0\.1", run)
    assert w.get_logdir() == os.path.join("runs", run)


def test_queue_flush_and_close(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=1000, flush_secs=10 ** 6)
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    size0 = os.path.getsize(path)            # the file_version record is written at once
    w.add_scalar("a", 1.0, 1)
    assert os.path.getsize(path) == size0    # waiting in the queue
    w.flush()
    assert os.path.getsize(path) > size0
    w.close()
    w.add_scalar("b", 2.0, 2)                # after close: a new file, as PyTorch reopens
    w.close()
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 2


def test_bad_input(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(AssertionError, match="one element"):
            w.add_scalar("a", nt.ones(3), 0)
        with pytest.raises(ValueError, match="no element"):
            w.add_histogram("h", np.zeros(0), 0)
        with pytest.raises(AssertionError, match="input format"):
            w.add_image("i", np.zeros((3, 4)), 0)          # CHW given a 2-D array


def test_unclosed_writer_leaves_its_events(tmp_path):
    import gc
    w = SummaryWriter(tmp_path, max_queue=1000)
    w.add_scalar("a", 4.0, 1)
    del w
    gc.collect()
    assert [(e.step, e.value) for e in _accumulator(tmp_path).Scalars("a")] == [(1, 4.0)]
