"""A character-level GRU language model: train a few steps on a string, then greedy decoding.

Also: ``model.apply(init_fn)`` with deterministic ``nn.init`` calls, gradient clipping, perplexity.
"""
import math

import numpy as np

from ._common import init_from_numpy


def main(torch, seed: int) -> dict:
    nn = torch.nn
    F = torch.nn.functional
    text = "to be or not to be, that is the question. " * 3
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)

    class CharGRU(nn.Module):
        def __init__(self, vocab_size, d_emb=8, d_hidden=16):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, d_emb)
            self.gru = nn.GRU(d_emb, d_hidden, batch_first=True)
            self.head = nn.Linear(d_hidden, vocab_size)

        def forward(self, idx, hidden=None):
            out, hidden = self.gru(self.embed(idx), hidden)
            return self.head(out), hidden

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.GRU):
            for name, p in m.named_parameters():
                if "bias" in name:
                    nn.init.constant_(p, 0.05)

    model = CharGRU(len(chars))
    init_from_numpy(torch, model, seed)
    model.apply(init_weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    block, batch = 12, 4
    starts = torch.arange(batch) * 20
    idx = torch.stack([data[s:s + block] for s in starts.tolist()])
    targets = torch.stack([data[s + 1:s + block + 1] for s in starts.tolist()])
    losses = []
    for step in range(5):
        logits, _ = model(idx)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())

    model.eval()
    with torch.no_grad():
        context = data[:1].unsqueeze(0)
        logits, hidden = model(context)
        generated = []
        for _ in range(10):
            next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            generated.append(chars[next_id.item()])
            logits, hidden = model(next_id, hidden)
        val_logits, _ = model(idx)
        val_loss = F.cross_entropy(val_logits.reshape(-1, len(chars)), targets.reshape(-1)).item()
    return {"losses": np.array(losses), "generated": "".join(generated), "val_loss": val_loss,
            "perplexity": math.exp(val_loss), "hidden": hidden.numpy()}
