# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 16. Object detection: boxes, IoU, NMS / 目标检测：边框、IoU 与 NMS
#
# A classifier says *what* is in an image; a detector also says *where*: for every object a **box**
# $(x_1, y_1, x_2, y_2)$, a class and a score. Two tools sit at the heart of every detector:
#
# * **IoU** (intersection over union) measures how well two boxes agree:
#   $\mathrm{IoU}(A, B) = |A \cap B| / |A \cup B|$, 1 for identical boxes, 0 for disjoint ones.
# * **NMS** (non-maximum suppression) removes duplicates: a detector proposes many overlapping boxes
#   per object; keep the best-scoring box, drop every box that overlaps it by more than a threshold,
#   repeat with the rest.
#
# 分类器回答图像里*是什么*；检测器还要回答*在哪里*：对每个物体给出一个**边框** $(x_1, y_1, x_2, y_2)$、
# 类别和分数。每个检测器的核心都有两件工具：
#
# * **IoU**（交并比）衡量两个框吻合得多好：$\mathrm{IoU}(A, B) = |A \cap B| / |A \cup B|$，
#   完全相同为 1，互不相交为 0。
# * **NMS**（非极大值抑制）去掉重复：检测器对每个物体会给出许多互相重叠的框；保留分数最高的框，
#   删掉与它重叠超过阈值的所有框，再对剩下的重复这一过程。

# %%
import numpy as np

import numtorch
from numtorch.vision import ops
from numtorch.vision.datasets import DigitCanvases
from _lesson import data_dir, save
from numtorch.viz import new_figure

# %% [markdown]
# ## IoU by hand and with `vision.ops.box_iou` / 手算 IoU 与 `vision.ops.box_iou`

# %%
def iou(a, b):
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


A, B = [0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 6.0, 6.0]      # overlap 2x2 = 4, union 16 + 16 - 4 = 28
assert abs(iou(A, B) - 4 / 28) < 1e-12 and iou(A, A) == 1.0 and iou(A, [5.0, 5.0, 6.0, 6.0]) == 0.0
rng = np.random.default_rng(0)
xy = rng.uniform(0, 50, (20, 2))
boxes = np.hstack([xy, xy + rng.uniform(5, 30, (20, 2))])
M = ops.box_iou(numtorch.tensor(boxes), numtorch.tensor(boxes)).numpy()
np.testing.assert_allclose(M, [[iou(a, b) for b in boxes] for a in boxes], rtol=1e-10)
print("IoU of A and B:", round(iou(A, B), 4), "(4/28); box_iou matches on 20x20 pairs")

# %% [markdown]
# ## A canvas of digits / 一张数字画布
#
# `vision.datasets.DigitCanvases` scatters MNIST digits over a blank canvas and gives their boxes
# and labels, the shape of a detection data set (`target["boxes"]`, `target["labels"]`).
#
# `vision.datasets.DigitCanvases` 把 MNIST 数字随机散布在空白画布上，并给出它们的边框和标签，
# 格式就是检测数据集的格式（`target["boxes"]`、`target["labels"]`）。

# %%
mnist_dir = data_dir()
if (mnist_dir / "mnist").is_dir():
    canvases = DigitCanvases(root=mnist_dir, num_canvases=4, canvas_size=96, digits=(3, 3), seed=3)
else:                                                   # without MNIST: the 8x8 digits, enlarged
    from numtorch.vision.datasets import load_digits_arrays
    imgs, labs = load_digits_arrays()
    imgs = np.kron(imgs, np.ones((1, 3, 3), dtype=np.uint8))[:, :24, :24]
    canvases = DigitCanvases(images=imgs, labels=labs, num_canvases=4, canvas_size=96, digits=(3, 3),
                             digit_size=(20, 24), seed=3)
image, target = canvases[0]
gt = target["boxes"].numpy()
print("objects:", target["labels"].tolist(), "boxes:\n", gt)
assert image.shape[0] == 1 and len(gt) == 3

# %% [markdown]
# ## Many proposals, then NMS / 大量候选框，然后 NMS
#
# We imitate a detector's raw output: around each true box, 15 jittered copies with scores that are
# higher the better the copy fits; plus a few random boxes with low scores.
#
# 我们模仿检测器的原始输出：在每个真实边框周围生成 15 个抖动的副本，副本越贴合分数越高；
# 再加上几个分数很低的随机框。

# %%
cand, score = [], []
for box in gt:
    size = box[2:] - box[:2]
    for _ in range(15):
        jitter = rng.normal(0, 0.12, 4) * np.r_[size, size]
        c = box + jitter
        cand.append(c)
        score.append(iou(c, box) + rng.normal(0, 0.03))
for _ in range(5):
    p = rng.uniform(0, 70, 2)
    cand.append(np.r_[p, p + rng.uniform(10, 25, 2)])
    score.append(rng.uniform(0.05, 0.2))
cand, score = np.array(cand, dtype=np.float32), np.array(score, dtype=np.float32)


def nms(boxes, scores, threshold):
    """Greedy NMS: the best box stays, boxes overlapping it by more than `threshold` go; repeat."""
    order, keep = list(np.argsort(-scores)), []
    while order:
        best = order.pop(0)
        keep.append(best)
        order = [i for i in order if iou(boxes[best], boxes[i]) <= threshold]
    return keep


keep_hand = nms(cand, score, 0.3)
keep = ops.nms(numtorch.tensor(cand), numtorch.tensor(score), 0.3).numpy()
print(f"{len(cand)} proposals -> {len(keep)} after NMS; kept {keep.tolist()}")
assert keep.tolist() == keep_hand
# every true object keeps exactly one good box (IoU > 0.5) among the survivors
best = ops.box_iou(numtorch.tensor(gt), numtorch.tensor(cand[keep])).numpy()
assert ((best > 0.5).sum(1) == 1).all()

# %% [markdown]
# A score threshold then drops the weak leftovers; what remains is one box per object.
#
# 再用分数阈值去掉剩下的弱框；最后每个物体只留下一个框。

# %%
final = keep[score[keep] > 0.5]
match = ops.box_iou(numtorch.tensor(gt), numtorch.tensor(cand[final])).numpy()
print(f"score > 0.5: {len(final)} detections, "
      f"IoU with the truth {match.max(1).astype(float).round(2).tolist()}")
assert len(final) == len(gt) and (match.max(1) > 0.5).all() and len(set(match.argmax(1).tolist())) == len(gt)

# %%
fig, (ax_all, ax_nms) = new_figure(1, 2, size=(10, 5))


def draw(ax, boxes, color, lw=1.0, alpha=1.0, ls="-"):
    from matplotlib.patches import Rectangle
    for x1, y1, x2, y2 in boxes:
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color, lw=lw, alpha=alpha, ls=ls))


for ax in (ax_all, ax_nms):
    ax.imshow(image[0].numpy(), cmap="gray_r")
    ax.set(xticks=[], yticks=[])
draw(ax_all, cand, "tab:red", alpha=0.6)
ax_all.set_title(f"{len(cand)} proposals")
draw(ax_nms, gt, "tab:green", lw=3, alpha=0.5)
draw(ax_nms, cand[keep], "tab:red", lw=1, ls="--", alpha=0.6)
draw(ax_nms, cand[final], "tab:red", lw=2)
for i in keep:
    ax_nms.text(cand[i][0], cand[i][1] - 1, f"{score[i]:.2f}", color="tab:red", fontsize=8)
ax_nms.set_title(f"NMS: {len(keep)} left (dashed), score > 0.5: {len(final)}; green: truth", fontsize=10)
save(fig, "16_nms_boxes.png")

# %% [markdown]
# A trained detector for these canvases is `numtorch.models.detection.centernet_digits`; see
# `docs/detection.md` for training it (`numtorch train --model detector`) and drawing its boxes
# (`numtorch detect`).
#
# 这些画布上训练好的检测器是 `numtorch.models.detection.centernet_digits`；怎样训练它
# （`numtorch train --model detector`）以及画出它的检测框（`numtorch detect`），见 `docs/detection.md`。
