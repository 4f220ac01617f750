"""``numtorch.text``: a character tokenizer and datasets of fixed-length windows over text.

>>> from numtorch.text import CharTokenizer, TextWindows
>>> tok = CharTokenizer().fit("hello world")
>>> tok.decode(tok.encode("hold"))
'hold'
>>> ds = TextWindows(tok.encode("hello world"), block_size=4)
>>> x, y = ds[0]
>>> tok.decode(x), tok.decode(y)
('hell', 'ello')
"""
from numtorch.text.tokenizer import CharTokenizer  # noqa: F401
from numtorch.text.datasets import TextWindows, split_text, load_text  # noqa: F401

__all__ = ["CharTokenizer", "TextWindows", "split_text", "load_text"]
