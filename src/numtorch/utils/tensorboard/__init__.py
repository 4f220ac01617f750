"""``numtorch.utils.tensorboard``: TensorBoard logging, as ``torch.utils.tensorboard``.

``SummaryWriter`` writes the event files itself (TFRecord framing, protocol buffers encoded by
hand): neither TensorFlow nor the tensorboard package is needed to write them, only to view them
(``tensorboard --logdir runs``).  Images need pillow.
"""
from numtorch.utils.tensorboard.writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
