"""Tensor idioms: the tutorial's two-layer net trained by hand (mm, clamp, pow, t, item, in-place add_
under no_grad), then cat/stack/view/permute/indexing/masked_fill/argmax/topk/gather."""
import numpy as np

from ._common import randn


def main(torch, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    N, D_in, H, D_out = 16, 10, 12, 3
    x = randn(torch, rng, N, D_in)
    y = randn(torch, rng, N, D_out)
    w1 = (randn(torch, rng, D_in, H) * 0.3).requires_grad_()
    w2 = (randn(torch, rng, H, D_out) * 0.3).requires_grad_()

    learning_rate = 1e-3
    losses = []
    for t in range(10):
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1.add_(w1.grad, alpha=-learning_rate)
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()

    # the same gradients by hand: grad_w2 = h_relu^T (2 (y_pred - y)), grad_w1 = x^T (g_h * (h > 0))
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    grad_y_pred = 2.0 * (h_relu.mm(w2) - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h = grad_y_pred.mm(w2.t()).clone()
    grad_h[h < 0] = 0

    a = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    b = a.permute(2, 0, 1).contiguous()
    cat = torch.cat([a, a * 2], dim=1)
    st = torch.stack([a[0], a[1]], dim=0)
    mask = a > 10
    filled = a.masked_fill(mask, -1.0)
    scores = randn(torch, rng, 4, 6)
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    attn = scores[:, :4].masked_fill(causal, -torch.inf).softmax(dim=-1)
    angles = torch.arange(4) * (torch.pi / 4)
    top_v, top_i = scores.topk(3, dim=1)
    picked = scores.gather(1, torch.tensor([[0], [5], [2], [1]]))
    z = a.clone()
    z[:, 1, ::2] = 0.0
    z[0, ..., -1] += 100
    sel = a[a.sum(dim=(1, 2)) > 100]
    nz = torch.nonzero(filled < 0)
    w = torch.where(a > 5, a, torch.zeros_like(a))
    return {
        "losses": np.array(losses), "grad_w2": grad_w2.detach().numpy(), "grad_h": grad_h.detach().numpy(),
        "permute_shape": list(b.shape), "permute": b.numpy(), "cat": cat.numpy(), "stack": st.numpy(),
        "filled": filled.numpy(), "attn": attn.numpy(), "cos": angles.cos().numpy(),
        "argmax": scores.argmax(dim=1).numpy(), "argmax_flat": scores.argmax().item(),
        "topk_v": top_v.numpy(), "topk_i": top_i.numpy(), "gather": picked.numpy(), "setitem": z.numpy(),
        "bool_index": sel.numpy(), "nonzero": nz.numpy(), "where": w.numpy(),
        "reshape_flatten": a.reshape(-1, 6).flatten().numpy(), "unsqueeze": list(a.unsqueeze(1).shape),
        "squeeze": list(a[:, :1].squeeze().shape), "mean_keepdim": a.mean(dim=-1, keepdim=True).numpy(),
        "max_values": a.max(dim=1).values.numpy(), "max_indices": a.max(dim=1).indices.numpy(),
        "sum_item": a.sum().item(), "size": list(a.size()), "size1": a.size(1), "dim": a.dim(),
        "dtype_long": str(a.long().dtype).split(".")[-1], "expand": a[:, :1, :].expand(2, 3, 4).numpy(),
        "transpose": a.transpose(0, 2).numpy(), "chunk": [c.numpy() for c in a.chunk(2, dim=2)],
        "split": [s.shape[2] for s in a.split([1, 3], dim=2)], "repeat": a[0, 0].repeat(2, 1).numpy(),
    }
