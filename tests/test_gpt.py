"""GPT: same weights as a PyTorch GPT give the same logits, loss and gradients; KV-cache generation
equals recomputation; a slow run learns Tiny Shakespeare."""
from __future__ import annotations

import time

import numpy as np
import pytest

import numtorch
from helpers import assert_close
from numtorch.models import GPT

CFG = dict(vocab_size=20, n_layer=2, n_head=2, n_embd=16, block_size=8)


def _torch_gpt(torch, vocab_size, n_layer, n_head, n_embd, block_size):
    """The reference network in PyTorch, with the same parameter names."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            C = n_embd
            self.ln_1 = nn.LayerNorm(C)
            self.attn = nn.Module()
            self.attn.c_attn, self.attn.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.ln_2 = nn.LayerNorm(C)
            self.mlp = nn.Module()
            self.mlp.c_fc, self.mlp.c_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2)
                       for t in self.attn.c_attn(self.ln_1(x)).split(C, 2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.attn.c_proj(y)
            return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab_size, n_embd), wpe=nn.Embedding(block_size, n_embd),
                h=nn.ModuleList([Block() for _ in range(n_layer)]), ln_f=nn.LayerNorm(n_embd)))
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets):
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(idx.shape[1]))
            for b in self.transformer.h:
                x = b(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    return TorchGPT().double()


def test_gpt_matches_torch(torch):
    tm = _torch_gpt(torch, **CFG)
    nm = GPT(**CFG).double()
    assert sorted(tm.state_dict()) == sorted(nm.state_dict())
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert nm.lm_head.weight is nm.transformer.wte.weight
    rng = np.random.default_rng(0)
    idx, tgt = rng.integers(0, 20, (3, 8)), rng.integers(0, 20, (3, 8))
    tl, tloss = tm(torch.tensor(idx), torch.tensor(tgt))
    nl, nloss = nm(numtorch.tensor(idx), numtorch.tensor(tgt))
    assert_close(nl, tl)
    assert_close(nloss, tloss)
    tloss.backward()
    nloss.backward()
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert_close(p.grad, tp[name].grad, atol=1e-8, what=name)


def test_gpt_training_steps_match_torch(torch):
    """Three AdamW steps from the same weights give the same losses in float32."""
    tm = _torch_gpt(torch, **CFG).float()
    nm = GPT(**CFG)
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    to, no = torch.optim.AdamW(tm.parameters(), lr=1e-2), numtorch.optim.AdamW(nm.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    for _ in range(3):
        idx, tgt = rng.integers(0, 20, (4, 8)), rng.integers(0, 20, (4, 8))
        tl = tm(torch.tensor(idx), torch.tensor(tgt))[1]
        nl = nm(numtorch.tensor(idx), numtorch.tensor(tgt))[1]
        assert abs(tl.item() - nl.item()) < 1e-5
        for opt, loss in ((to, tl), (no, nl)):
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_gpt_init_and_shapes():
    numtorch.manual_seed(0)
    m = GPT(vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=64)
    w = m.transformer.h[0].attn.c_attn.weight.detach().numpy()
    assert abs(w.std() - 0.02) < 0.002
    p = m.transformer.h[0].mlp.c_proj.weight.detach().numpy()
    assert abs(p.std() - 0.02 / np.sqrt(8)) < 0.001
    assert not m.transformer.h[0].attn.c_attn.bias.detach().numpy().any()
    # 4 blocks of 12 C^2 + 13 C, the final LayerNorm, token and position embeddings (the head is tied)
    C = 128
    assert m.num_params(non_embedding=False) == 4 * (12 * C * C + 13 * C) + 2 * C + 65 * C + 64 * C
    logits, loss = m(numtorch.randint(0, 65, (2, 10)))
    assert tuple(logits.shape) == (2, 10, 65) and loss is None and logits.dtype == numtorch.float32
    with pytest.raises(ValueError, match="block size"):
        m(numtorch.zeros(1, 65, dtype=numtorch.int64))
    untied = GPT(tie_weights=False, **{**CFG})
    assert untied.lm_head.weight is not untied.transformer.wte.weight


@pytest.mark.parametrize("kw", [{}, {"top_k": 3}, {"temperature": 0.0}, {"temperature": 1.5, "top_k": 10}])
def test_kv_cache_generation_equals_recomputation(kw):
    numtorch.manual_seed(0)
    m = GPT(**CFG)
    prompt = numtorch.tensor([[1, 2, 3], [4, 5, 6]])
    outs = []
    for cache in (True, False):
        gen = numtorch.Generator().manual_seed(7)
        outs.append(m.generate(prompt, 12, use_cache=cache, generator=gen, **kw).numpy())  # past block_size 8
    assert outs[0].shape == (2, 15)
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0][:, :3], prompt.numpy())
    assert m.training    # generate restores the mode


def test_kv_cache_logits_equal_full_forward():
    numtorch.manual_seed(1)
    m = GPT(**CFG).eval()
    idx = numtorch.randint(0, 20, (2, 7))
    with numtorch.no_grad():
        full = m(idx)[0]
        caches = [[] for _ in m.transformer.h]
        first = m(idx[:, :4], caches=caches)[0]
        rest = m(idx[:, 4:], caches=caches, offset=4)[0]
    assert_close(numtorch.cat([first, rest], 1), full, atol=1e-5)


def test_top_k_one_is_greedy():
    numtorch.manual_seed(2)
    m = GPT(**CFG)
    a = m.generate(numtorch.tensor([[0]]), 6, top_k=1)
    b = m.generate(numtorch.tensor([[0]]), 6, temperature=0.0)
    assert np.array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_tiny_shakespeare_held_out_loss_below_2(data_dir):
    """W5 GPT (4 layers, 4 heads, width 128, context 64), batch 16, AdamW lr 1e-3, 2000 steps."""
    from numtorch.cli.train_text import GPT_DEFAULTS, train_gpt
    path = data_dir / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    settings = dict(GPT_DEFAULTS, batch_size=16, lr=1e-3, weight_decay=0.0, eval_iters=20, seed=0,
                    steps=2000, eval_interval=250)
    start = time.perf_counter()
    result = train_gpt(path.read_text(), settings, progress=False)
    print(f"wall time {time.perf_counter() - start:.0f}s, held-out losses {result['history']['val_loss']}")
    assert min(result["history"]["val_loss"]) <= 2.0
