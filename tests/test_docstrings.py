"""The examples in numtorch's docstrings run and print what they say (a learner copies them)."""
import doctest
import importlib
import pkgutil

import pytest

import numtorch

MODULES = sorted(m.name for m in pkgutil.walk_packages(numtorch.__path__, "numtorch.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_the_examples_exist():
    attempted = sum(doctest.testmod(importlib.import_module(n), report=False, optionflags=doctest.ELLIPSIS
                                    | doctest.NORMALIZE_WHITESPACE).attempted for n in MODULES)
    assert attempted >= 100  # the collection found the package's examples, not an empty list
