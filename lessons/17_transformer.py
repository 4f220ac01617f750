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
# # 17. The Transformer: attention / Transformer：注意力机制
#
# In **self-attention** every position of a sequence looks at the others and takes a weighted
# average of what it finds. Each position $i$ emits a query $q_i$, a key $k_i$ and a value $v_i$
# (three affine maps of its vector). The weight of position $j$ for position $i$ is a softmax over
# how well the query matches each key,
# $a_{ij} = \mathrm{softmax}_j\!\left(q_i \cdot k_j / \sqrt{d}\right)$, and the output is
# $\sum_j a_{ij} v_j$. In a language model a **causal mask** sets $a_{ij} = 0$ for $j > i$: a position
# may not peek at the characters it has to predict.
#
# 在**自注意力**中，序列的每个位置都会查看其他位置，并对看到的内容取加权平均。每个位置 $i$ 产生查询
# $q_i$、键 $k_i$ 和值 $v_i$（由它的向量经三个仿射变换得到）。位置 $j$ 对位置 $i$ 的权重是查询与各个键
# 匹配程度的 softmax：$a_{ij} = \mathrm{softmax}_j\!\left(q_i \cdot k_j / \sqrt{d}\right)$，输出是
# $\sum_j a_{ij} v_j$。在语言模型里，**因果掩码**令 $j > i$ 时 $a_{ij} = 0$：一个位置不能偷看它要预测的字符。

# %%
import math

import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import optim
from numtorch.models import GPT
from numtorch.text import CharTokenizer
from _lesson import FAST, data_dir, save
from numtorch.viz import new_figure

numtorch.manual_seed(0)

# %% [markdown]
# ## Attention by hand / 手写注意力
#
# Written with matrices: $A = \mathrm{softmax}(Q K^\top / \sqrt{d} + M)$ with $M_{ij} = -\infty$ above
# the diagonal, and output $A V$. numtorch's `F.scaled_dot_product_attention(q, k, v, is_causal=True)`
# computes the same.
#
# 用矩阵写：$A = \mathrm{softmax}(Q K^\top / \sqrt{d} + M)$，其中对角线以上 $M_{ij} = -\infty$，
# 输出为 $A V$。numtorch 的 `F.scaled_dot_product_attention(q, k, v, is_causal=True)` 计算的是同一个东西。

# %%
def attention(q, k, v, causal=True):
    """Returns (output, weights) for q, k, v of shape (..., T, d)."""
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    if causal:
        future = numtorch.triu(numtorch.ones(T, T, dtype=numtorch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights


q, k, v = (numtorch.randn(2, 3, 6, 8, dtype=numtorch.float64) for _ in range(3))   # (batch, heads, T, d)
out, w = attention(q, k, v)
np.testing.assert_allclose(out.numpy(), F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy(),
                           rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(w.sum(-1).numpy(), 1.0, rtol=1e-12)        # each row is a distribution
assert (np.triu(w.numpy(), 1) == 0).all()                              # no peeking at the future
print("attention by hand == F.scaled_dot_product_attention (causal)")

# %% [markdown]
# ## A tiny character model / 一个很小的字符级模型
#
# A GPT (token and position embeddings, Transformer blocks of attention and an MLP, a linear head)
# trained to predict the next character of Tiny Shakespeare. Guessing uniformly among the 65-odd
# characters costs $\ln V \approx 4.2$ nats per character; knowing only how often each character
# occurs costs the unigram entropy; knowing the previous character, the bigram entropy. A model
# below those numbers has learned to use its context.
#
# 一个 GPT（词元嵌入和位置嵌入、由注意力和 MLP 组成的 Transformer 块、一个线性输出层），
# 训练它预测 Tiny Shakespeare 中的下一个字符。在约 65 个字符中均匀瞎猜，每个字符的损失是 $\ln V \approx 4.2$
# 奈特；只知道每个字符出现的频率，损失是一元熵；知道前一个字符，则是二元熵。损失低于这些数的模型
# 已经学会了利用上下文。

# %%
path = data_dir() / "tinyshakespeare" / "input.txt"
if path.is_file():
    text = path.read_text(encoding="utf-8")[:300_000]
else:                                         # a stand-in when the data set is absent
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
            "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 400
tok = CharTokenizer().fit(text)
data = tok.encode_array(text).astype(np.int64)
V = tok.vocab_size
counts = np.bincount(data, minlength=V) / len(data)
unigram = float(-(counts[counts > 0] * np.log(counts[counts > 0])).sum())
pair = np.zeros((V, V))
np.add.at(pair, (data[:-1], data[1:]), 1)
cond = pair / np.maximum(pair.sum(1, keepdims=True), 1)
bigram = float(-(pair / pair.sum() * np.log(np.where(cond > 0, cond, 1))).sum())
print(f"{len(text):,} characters, vocabulary {V}: ln V = {math.log(V):.2f}, "
      f"unigram entropy {unigram:.2f}, bigram entropy {bigram:.2f} nats")

# %%
block_size, batch = 32, 32
config = dict(n_layer=1, n_head=2, n_embd=32) if FAST else dict(n_layer=2, n_head=4, n_embd=64)
steps = 150 if FAST else 600
model = GPT(vocab_size=V, block_size=block_size, **config)
opt = optim.AdamW(model.parameters(), lr=3e-3)
rng = np.random.default_rng(0)
split = int(0.9 * len(data))


def get_batch(lo, hi):
    ix = rng.integers(lo, hi - block_size - 1, batch)
    x = np.stack([data[i:i + block_size] for i in ix])
    y = np.stack([data[i + 1:i + block_size + 1] for i in ix])
    return numtorch.tensor(x), numtorch.tensor(y)


losses = []
for step in range(steps):
    x, y = get_batch(0, split)
    _, loss = model(x, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
model.eval()
with numtorch.no_grad():
    held_out = np.mean([model(*get_batch(split, len(data)))[1].item() for _ in range(10)])
print(f"loss: first step {losses[0]:.2f}, held-out after {steps} steps {held_out:.2f}")
assert abs(losses[0] - math.log(V)) < 0.3                # starts at guessing
assert held_out < unigram                                # uses context
if not FAST:
    assert held_out < bigram                             # more than the previous character

sample = model.generate(numtorch.tensor([tok.encode("ROMEO:")]), max_new_tokens=80, temperature=0.8, top_k=10)
print(tok.decode(sample[0].tolist()))

# %% [markdown]
# ## What the first block attends to / 第一个块在关注什么
#
# We recompute the first block's attention weights by hand from the trained weights (LayerNorm,
# the fused q/k/v projection `c_attn`, split into heads) and check them against the block itself,
# then draw them: row $i$ shows where the character at position $i$ looks.
#
# 我们用训练好的权重手算第一个块的注意力权重（LayerNorm、合并的 q/k/v 投影 `c_attn`、拆分成多个头），
# 并与块本身的输出核对，然后画出来：第 $i$ 行表示第 $i$ 个位置的字符在看哪里。

# %%
phrase = "To be, or not to be: that is"
ids = numtorch.tensor([tok.encode(phrase)])
blk = model.transformer.h[0]
with numtorch.no_grad():
    T = ids.shape[1]
    h = model.transformer.wte(ids) + model.transformer.wpe(numtorch.arange(T))
    z = blk.ln_1(h)
    H, C = blk.attn.n_head, z.shape[-1]
    qh, kh, vh = (t.reshape(1, T, H, C // H).transpose(1, 2) for t in blk.attn.c_attn(z).chunk(3, dim=-1))
    y, weights = attention(qh, kh, vh)
    by_hand = blk.attn.c_proj(y.transpose(1, 2).reshape(1, T, C))
    np.testing.assert_allclose(by_hand.numpy(), blk.attn(z).numpy(), rtol=1e-4, atol=1e-5)
weights = weights[0].numpy()
assert np.allclose(weights.sum(-1), 1, atol=1e-5) and (np.triu(weights, 1) == 0).all()

# %%
fig, axes = new_figure(1, H, size=(5.2 * H, 5))
axes = np.atleast_1d(axes)
labels = [c if c != " " else "␣" for c in phrase]
for head, ax in enumerate(axes):
    im = ax.imshow(weights[head], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T), labels, fontsize=7)
    ax.set_yticks(range(T), labels, fontsize=7)
    ax.set(title=f"block 1, head {head + 1}", xlabel="attends to (key)", ylabel="position (query)")
fig.colorbar(im, ax=axes.tolist(), shrink=0.8)
save(fig, "17_attention_heatmap.png")

# %%
fig, ax = new_figure(size=(7, 4))
ax.plot(losses, lw=0.8, label="training loss")
for value, name, style in ((math.log(V), "ln V (guessing)", ":"), (unigram, "unigram entropy", "--"),
                           (bigram, "bigram entropy", "-.")):
    ax.axhline(value, color="k", ls=style, lw=0.8, label=name)
ax.axhline(held_out, color="tab:red", lw=1, label=f"held-out loss {held_out:.2f}")
ax.set(xlabel="step", ylabel="cross-entropy (nats / character)", title="a tiny GPT learns Tiny Shakespeare")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
save(fig, "17_char_model_loss.png")
