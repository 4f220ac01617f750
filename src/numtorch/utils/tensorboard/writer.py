"""``SummaryWriter``: TensorBoard event files, written without TensorFlow or TensorBoard.

An event file is a sequence of TFRecords (``_record.py``), each an ``Event`` protocol buffer
(``_proto.py``); the first one holds ``file_version = "brain.Event:2"``.  Events are kept in
memory and written when ``max_queue`` of them wait, when ``flush_secs`` have passed since the
last write (checked as events arrive), on ``flush()`` / ``close()``, and when a writer that was
never closed is collected or the interpreter exits.

>>> from numtorch.utils.tensorboard import SummaryWriter
>>> with SummaryWriter("runs/demo") as w:          # doctest: +SKIP
...     for step in range(3):
...         w.add_scalar("loss", 1.0 / (step + 1), step)
"""
from __future__ import annotations

import itertools
import os
import socket
import time
import weakref
from datetime import datetime

from numtorch.utils.tensorboard import _proto, summary as _summary
from numtorch.utils.tensorboard._record import record

__all__ = ["SummaryWriter", "FileWriter"]

_file_counter = itertools.count()   # the last part of an event file's name: unique in the process


class FileWriter:
    """One event file in ``log_dir``: ``events.out.tfevents.<time>.<host>.<pid>.<n><suffix>``."""

    def __init__(self, log_dir: str, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = ""):
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir = str(log_dir)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                f"{next(_file_counter)}{filename_suffix}")
        self.path = os.path.join(self.log_dir, name)
        self.max_queue, self.flush_secs = max_queue, flush_secs
        self._queue: list[bytes] = []
        self._last_flush = time.time()
        self._file = open(self.path, "wb")
        self._closed = False
        # a writer never closed still leaves its events on disk (when collected, or at exit)
        self._finalizer = weakref.finalize(self, _write_out, self._file, self._queue)
        self.add_event(_proto.event(time.time(), file_version="brain.Event:2"))
        self.flush()

    def get_logdir(self) -> str:
        return self.log_dir

    def add_event(self, event: bytes) -> None:
        if self._closed:
            raise RuntimeError(f"SummaryWriter: the event file {self.path!r} is closed")
        self._queue.append(record(event))
        if len(self._queue) >= self.max_queue or time.time() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_summary(self, summary: bytes, global_step=None, walltime=None) -> None:
        wall = time.time() if walltime is None else float(walltime)
        self.add_event(_proto.event(wall, None if global_step is None else int(global_step), summary=summary))

    def add_session_start(self, step: int) -> None:
        """A SessionLog START at ``step``: TensorBoard discards the older events with larger steps."""
        self.add_event(_proto.event(time.time(), step, session_log=_proto.session_log_start()))

    def flush(self) -> None:
        if self._closed:
            return
        if self._queue:
            self._file.write(b"".join(self._queue))
            self._queue.clear()
        self._file.flush()
        self._last_flush = time.time()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._file.close()
            self._closed = True
            self._finalizer.detach()


def _write_out(file, queue: list) -> None:
    """Writes the records still queued and closes the file (a FileWriter's finalizer)."""
    if not file.closed:
        file.write(b"".join(queue))
        file.close()


class SummaryWriter:
    """Writes scalars, histograms, images and text for TensorBoard, as ``torch.utils.tensorboard``.

    Args:
        log_dir: the directory of the event files (default ``runs/<date>_<host><comment>``).
        comment: appended to the default ``log_dir``.
        purge_step: TensorBoard hides events of an earlier run at steps >= this one.
        max_queue: events held in memory before a write.
        flush_secs: seconds between writes.
        filename_suffix: appended to the event file's name.
    """

    def __init__(self, log_dir=None, comment: str = "", purge_step=None, max_queue: int = 10,
                 flush_secs: int = 120, filename_suffix: str = "") -> None:
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue, self.flush_secs, self.filename_suffix = max_queue, flush_secs, filename_suffix
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] = {}
        self._get_file_writer()

    def _get_file_writer(self) -> FileWriter:
        if self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                self.file_writer.add_session_start(self.purge_step)
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        return self.log_dir

    # ---- what can be logged --------------------------------------------------------------
    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """One point of the curve ``tag`` (a number or a one-element tensor)."""
        s = _summary.scalar(tag, scalar_value, new_style, double_precision)
        self._get_file_writer().add_summary(s, global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None, walltime=None) -> None:
        """Several curves in one chart: each ``tag`` goes to its own run, ``log_dir/<main_tag>_<tag>``."""
        walltime = time.time() if walltime is None else walltime
        base = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            run = base + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(run)
            if fw is None:
                fw = self.all_writers[run] = FileWriter(run, self.max_queue, self.flush_secs,
                                                        self.filename_suffix)
            fw.add_summary(_summary.scalar(main_tag, value), global_step, walltime)

    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None) -> None:
        """The distribution of ``values``; ``bins``: "tensorflow" (TensorFlow's exponential bins) or as
        ``np.histogram`` takes them ("auto", a count, edges)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = _summary.default_bins()
        self._get_file_writer().add_summary(_summary.histogram(tag, values, bins, max_bins), global_step,
                                            walltime)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None,
                  dataformats: str = "CHW") -> None:
        """One image: float values in [0, 1] or uint8 in [0, 255]; ``dataformats`` "CHW", "HWC" or "HW"."""
        self._get_file_writer().add_summary(_summary.image(tag, img_tensor, dataformats), global_step,
                                            walltime)

    def add_images(self, tag: str, img_tensor, global_step=None, walltime=None,
                   dataformats: str = "NCHW") -> None:
        """A batch of images as one grid, 8 a row."""
        self._get_file_writer().add_summary(_summary.image(tag, img_tensor, dataformats), global_step,
                                            walltime)

    def add_figure(self, tag: str, figure, global_step=None, close: bool = True, walltime=None) -> None:
        """A matplotlib figure (or a list of them, as a grid) rendered as an image."""
        import numpy as np
        figs = figure if isinstance(figure, list) else [figure]
        imgs = [_summary.figure_to_image(f)[..., :3] for f in figs]
        if close:
            import matplotlib.pyplot as plt
            for f in figs:
                plt.close(f)
        if isinstance(figure, list):
            self.add_images(tag, np.stack(imgs), global_step, walltime, dataformats="NHWC")
        else:
            self.add_image(tag, imgs[0], global_step, walltime, dataformats="HWC")

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Text (Markdown) shown by TensorBoard's text plugin."""
        self._get_file_writer().add_summary(_summary.text(tag, text_string), global_step, walltime)

    # ---- writing -------------------------------------------------------------------------
    def flush(self) -> None:
        """Writes every waiting event to disk."""
        for fw in self.all_writers.values():
            fw.flush()

    def close(self) -> None:
        """Flushes and closes the event files (a later ``add_*`` opens a new one)."""
        for fw in self.all_writers.values():
            fw.close()
        self.file_writer = None
        self.all_writers = {}

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.close()
