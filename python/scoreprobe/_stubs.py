"""The runs' options and docstrings in the stubs, generated from the compiled module: the options
from the runs' Rust options structs (names, types, defaults), the docstrings from the runs' Rust
doc comments. A new option is one edit to its struct, then

    python -m scoreprobe._stubs python/scoreprobe/_core.pyi

rewrites the option and docstring blocks of every run with an options struct (python/tests/
test_options.py fails while the stubs differ from what this writes).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from . import _core

# every Python run with an options struct (a new struct registered in `_options_schema` needs its
# block); `metrics`' struct serves only the CLI until the module has a `metrics` function
RUNS = tuple(run for run in _core._options_schema() if hasattr(_core, run))
BEGIN = "    # options of {run}: generated from its Rust options struct (python -m scoreprobe._stubs)"
END = "    # end of the options of {run}"
DOC_BEGIN = "    # docstring of {run}: generated from its Rust doc comment (python -m scoreprobe._stubs)"
DOC_END = "    # end of the docstring of {run}"


def _literal(value: Any) -> str:
    # JSON's spelling of strings is Python's double-quoted one; numbers and None as Python writes them
    return json.dumps(value) if isinstance(value, str) else repr(value)


def block(run: str) -> str:
    lines = [BEGIN.format(run=run)]
    lines += [f"    {o['name']}: {o['python_type']} = {_literal(o['default'])}," for o in _core._options_schema()[run]]
    return "\n".join(lines + [END.format(run=run)])


def doc_block(run: str) -> str:
    doc = inspect.cleandoc(getattr(_core, run).__doc__ or "")
    if '"""' in doc or "\\" in doc:
        raise ValueError(f"the doc comment of {run} holds a triple quote or a backslash")
    body = "\n".join(f"    {line}".rstrip() for line in doc.splitlines())
    return "\n".join([DOC_BEGIN.format(run=run), f'    """{body.lstrip()}\n    """', DOC_END.format(run=run)])


def _replace(text: str, run: str, begin: str, end: str, new: str, what: str) -> str:
    pattern = re.compile(re.escape(begin.format(run=run)) + ".*?" + re.escape(end.format(run=run)), re.S)
    if not pattern.search(text):
        raise ValueError(f"the stubs have no {what} block for {run} (the line {begin.format(run=run)!r})")
    return pattern.sub(lambda _: new, text)


def render(text: str) -> str:
    """``text`` (the stubs) with every run's option and docstring blocks regenerated."""
    for run in RUNS:
        text = _replace(text, run, BEGIN, END, block(run), "option")
        text = _replace(text, run, DOC_BEGIN, DOC_END, doc_block(run), "docstring")
    return text


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m scoreprobe._stubs python/scoreprobe/_core.pyi")
    path = Path(sys.argv[1])
    path.write_text(render(path.read_text()))
