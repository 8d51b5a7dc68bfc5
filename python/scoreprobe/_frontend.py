"""What ``scoreprobe`` adds to the compiled runs (``_core.sample``, ``siem``, ``hodge``, ``bounds``):
a Python signature and docstring built from the runs' Rust options structs (``help(sp.siem)`` lists
every option with its default; a new option in a struct is a new option here), and the spellings of
the previous release, accepted with a ``DeprecationWarning``. Everything else (the options, their
checks, the progress bar's total) is the compiled function's.

:func:`frontend` is typed as returning the function it wraps, so type checkers see the compiled
functions' stubs (``_core.pyi``), the one typed surface.
"""

import functools
import inspect
import warnings
from typing import Any, Callable, Dict, List, Sequence, Tuple, TypeVar

from . import _core

_F = TypeVar("_F", bound=Callable[..., Any])

# Python's own arguments of each run (not options of its struct), with their defaults, in order:
# the head is positional, the rest keyword-only around the options.
_HEAD = {"sample": ("model",), "siem": ("model", "data"), "hodge": ("model", "data"), "bounds": ("model", "data")}
_BEFORE = {"schedule": None}
_AFTER = {"siem": {"influence": False, "progress": True}}
_DEFAULT_AFTER = {"progress": True}

_KW = inspect.Parameter.KEYWORD_ONLY


def signature(run: str) -> inspect.Signature:
    """``run``'s signature: its head, ``schedule``, its struct's options, then its own flags."""
    positional, required = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    head = [inspect.Parameter(p, positional, default=None if p == "data" else required) for p in _HEAD[run]]
    before = [inspect.Parameter(k, _KW, default=v) for k, v in _BEFORE.items()]
    options = [inspect.Parameter(o["name"], _KW, default=o["default"]) for o in _core._options_schema()[run]]
    after = [inspect.Parameter(k, _KW, default=v) for k, v in _AFTER.get(run, _DEFAULT_AFTER).items()]
    return inspect.Signature(head + before + options + after)


def docstring(run: str, summary: str) -> str:
    """The compiled run's docstring (``summary``) with its options, as its struct documents them."""
    lines = [summary.rstrip(), "", "Options (the CLI's flags, ``--bandwidth-rule`` is ``bandwidth_rule=``):", ""]
    for o in _core._options_schema()[run]:
        lines.append(f"- ``{o['name']}`` ({o['python_type']}, default {o['default']!r}): {o['help']}")
    return "\n".join(lines)


def _take_legacy_positionals(
    run: str, legacy: Sequence[str], args: Tuple[Any, ...], kwargs: Dict[str, Any]
) -> Tuple[Any, ...]:
    """Moves the arguments after the head that were passed by position (the previous release's
    order, ``legacy``) into ``kwargs``, warning once; returns the head."""
    n_head = len(_HEAD[run])
    extra = args[n_head:]
    if not extra:
        return args
    if len(extra) > len(legacy):
        raise TypeError(f"{run}() takes at most {n_head + len(legacy)} positional arguments ({len(args)} given)")
    names: List[str] = list(legacy[: len(extra)])
    for name, value in zip(names, extra):
        if name in kwargs:
            raise TypeError(f"{run}() got multiple values for argument '{name}'")
        kwargs[name] = value
    keywords = ", ".join(f"{n}=" for n in names)
    warnings.warn(
        f"{run}(): passing {', '.join(names)} by position is deprecated and stops working in the next "
        f"release; write {keywords} (everything after {', '.join(_HEAD[run])} is keyword-only)",
        DeprecationWarning,
        stacklevel=3,
    )
    return args[:n_head]


def frontend(core: _F, legacy: Sequence[str]) -> _F:
    """``core`` with its Python signature and docstring, accepting the previous release's spellings
    (``legacy``: its positional order after the head; ``schedule=`` for a model that carries its
    schedule) with a ``DeprecationWarning``."""
    run = core.__name__

    @functools.wraps(core)
    def call(*args: Any, **kwargs: Any) -> Any:
        given_before = "schedule" in kwargs
        args = _take_legacy_positionals(run, legacy, args, kwargs)
        if kwargs.get("schedule") is not None and given_before:
            warnings.warn(
                f"{run}(schedule=...) is deprecated and stops working in the next release: a model "
                "carries its schedule (sp.ScoreFunction(fn, dim, parameterization, schedule=...); "
                "a Problem's is its spec's)",
                DeprecationWarning,
                stacklevel=2,
            )
        return core(*args, **kwargs)

    call.__signature__ = signature(run)  # type: ignore[attr-defined]
    call.__doc__ = docstring(run, core.__doc__ or "")
    return call  # type: ignore[return-value]
