"""The runs' options in the stubs, generated from the runs' Rust options structs (names, types,
defaults): a new option is one edit to its struct, then

    python -m scoreprobe._stubs python/scoreprobe/_core.pyi

rewrites the option blocks of ``sample``, ``siem``, ``hodge`` and ``bounds`` (python/tests/
test_options.py fails while the stubs differ from what this writes).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from . import _core

RUNS = ("sample", "siem", "hodge", "bounds")
BEGIN = "    # options of {run}: generated from its Rust options struct (python -m scoreprobe._stubs)"
END = "    # end of the options of {run}"


def _literal(value: Any) -> str:
    # JSON's spelling of strings is Python's double-quoted one; numbers and None as Python writes them
    return json.dumps(value) if isinstance(value, str) else repr(value)


def block(run: str) -> str:
    lines = [BEGIN.format(run=run)]
    lines += [f"    {o['name']}: {o['python_type']} = {_literal(o['default'])}," for o in _core._options_schema()[run]]
    return "\n".join(lines + [END.format(run=run)])


def render(text: str) -> str:
    """``text`` (the stubs) with every run's option block regenerated."""
    for run in RUNS:
        pattern = re.compile(re.escape(BEGIN.format(run=run)) + ".*?" + re.escape(END.format(run=run)), re.S)
        if not pattern.search(text):
            raise ValueError(f"the stubs have no option block for {run} (the line {BEGIN.format(run=run)!r})")
        text = pattern.sub(lambda _: block(run), text)
    return text


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m scoreprobe._stubs python/scoreprobe/_core.pyi")
    path = Path(sys.argv[1])
    path.write_text(render(path.read_text()))
