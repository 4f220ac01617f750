"""``CharTokenizer``: one token per character, ids in sorted character order (as nanoGPT's char model)."""
from __future__ import annotations

import numpy as np

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Maps each distinct character of a text to an id 0..vocab_size-1.

    ``fit(text)`` learns the vocabulary; ``encode(str) -> list[int]``; ``decode(ids) -> str``;
    ``to_dict`` / ``from_dict`` give a JSON-friendly form (saved inside checkpoints).

    >>> tok = CharTokenizer().fit("abcab")
    >>> tok.vocab_size, tok.encode("cab")
    (3, [2, 0, 1])
    """

    def __init__(self, chars: str | None = None) -> None:
        self.chars = ""
        self.stoi: dict[str, int] = {}
        if chars is not None:
            self._set(chars)

    def _set(self, chars: str) -> None:
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    def fit(self, text: str) -> "CharTokenizer":
        """Learns the vocabulary: the sorted distinct characters of ``text``; returns self."""
        self._set("".join(sorted(set(text))))
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; a character outside the vocabulary raises ``KeyError``."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise KeyError(f"CharTokenizer.encode: character {e.args[0]!r} is not in the vocabulary of "
                           f"{self.vocab_size} characters") from None

    def encode_array(self, text: str) -> np.ndarray:
        """``encode`` as an int64 array, vectorised (fast for a whole corpus)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        keys = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        order = np.argsort(keys)
        pos = np.searchsorted(keys[order], codes)
        pos = np.minimum(pos, len(keys) - 1)
        bad = keys[order][pos] != codes
        if bad.any():
            c = chr(int(codes[np.flatnonzero(bad)[0]]))
            raise KeyError(f"CharTokenizer.encode: character {c!r} is not in the vocabulary of "
                           f"{self.vocab_size} characters")
        return order[pos].astype(np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids (a list, an array or a 1-D tensor)."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return "".join(self.chars[int(i)] for i in ids)

    def to_dict(self) -> dict:
        return {"type": "CharTokenizer", "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        if d.get("type", "CharTokenizer") != "CharTokenizer":
            raise ValueError(f"CharTokenizer.from_dict: not a CharTokenizer: {d.get('type')!r}")
        return cls(d["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
