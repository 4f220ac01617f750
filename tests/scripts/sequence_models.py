"""Sequence models: an LSTM classifier trained one step, and a TransformerEncoder forward with a padding mask."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn

    class LSTMClassifier(nn.Module):
        def __init__(self, vocab, d_emb, d_hidden, n_classes):
            super().__init__()
            self.embed = nn.Embedding(vocab, d_emb)
            self.lstm = nn.LSTM(d_emb, d_hidden, num_layers=2, batch_first=True)
            self.fc = nn.Linear(d_hidden, n_classes)

        def forward(self, tokens):
            out, (h, c) = self.lstm(self.embed(tokens))
            return self.fc(out[:, -1, :]), h, c

    rng = np.random.default_rng(seed)
    tokens = torch.from_numpy(rng.integers(0, 20, size=(3, 7))).long()
    labels = torch.tensor([0, 2, 1])
    lstm_model = LSTMClassifier(20, 5, 6, 3)
    init_from_numpy(torch, lstm_model, seed)
    optimizer = torch.optim.RMSprop(lstm_model.parameters(), lr=0.01)
    logits, h, c = lstm_model(tokens)
    loss = nn.functional.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    embed_grad = lstm_model.embed.weight.grad.numpy().copy()
    optimizer.step()
    logits2, _, _ = lstm_model(tokens)

    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0,
                                       batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    init_from_numpy(torch, encoder, seed + 1)
    src = randn(torch, rng, 2, 5, 8)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    encoder.eval()
    with torch.no_grad():
        enc = encoder(src, src_key_padding_mask=pad)
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    with torch.no_grad():
        enc_causal = encoder(src, mask=causal, is_causal=True)

    return {"loss": loss.item(), "h_shape": list(h.shape), "c": c.detach().numpy(),
            "embed_grad": embed_grad, "logits_after": logits2.detach().numpy(),
            "encoder_out": enc.numpy(), "encoder_causal": enc_causal.numpy(),
            "encoder_keys": list(encoder.state_dict().keys()),
            "repr": repr(lstm_model) + repr(encoder)}
