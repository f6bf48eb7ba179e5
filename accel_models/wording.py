"""Error messages that name the caller's arguments as the caller spells them.

The library is called from Python (``latency_ms=1``) and from the command
line (``--latency-ms 1``).  A :class:`WordedError` keeps its message as a
template with the arguments it names and the hints it gives beside it:
``str(exc)`` is the Python wording, and the command line asks for its own
with :meth:`WordedError.worded` (``ofa_hw.cli.describe``), so neither
audience reads the other's terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["COMMAND_LINE", "PYTHON", "WordedError", "literal", "python_spelling"]

PYTHON = "python"
COMMAND_LINE = "command line"

#: ``spell(keyword, value_text)`` -> how an audience writes that argument (``latency_ms=1``, ``--latency-ms 1``).
Spelling = Callable[[str, str], str]


def literal(text: object) -> str:
    """``text`` as literal template text (a user's table or board name may hold braces)."""
    return str(text).replace("{", "{{").replace("}", "}}")


def python_spelling(keyword: str, text: str) -> str:
    """``keyword=text``, as a Python call writes the argument."""
    return f"{keyword}={text}"


class _Argument:
    """One argument in a template: ``{latency_ms:g}`` formats the value with ``g``, then spells it."""

    def __init__(self, keyword: str, value: object, spell: Spelling, audience: str):
        self.keyword, self.value, self.spell, self.audience = keyword, value, spell, audience

    def __format__(self, spec: str) -> str:
        if spec:
            text = format(self.value, spec)
        else:  # a Python reader sees a string quoted, as they would type it
            text = repr(self.value) if self.audience == PYTHON and isinstance(self.value, str) else str(self.value)
        return self.spell(self.keyword, text)


class WordedError(ValueError):
    """A bad-input error whose message names arguments and hints in the words of whoever called.

    Parameters
    ----------
    template : str
        The message, a :meth:`str.format` template: ``{keyword}`` or
        ``{keyword:spec}`` is an argument of ``arguments``, ``{name}`` a hint of ``hints``;
        other text taken from the user goes in through :func:`literal`.
    arguments : mapping of str to value, optional
        The arguments the message names, by their Python keyword.
    hints : mapping of str to mapping of audience to str, optional
        Text that differs by audience (what to do next), keyed
        :data:`PYTHON` and :data:`COMMAND_LINE`.

    Examples
    --------
    >>> exc = WordedError("{latency_ms:g} is below 2 ms; {fix}", arguments={"latency_ms": 1.0},
    ...                   hints={"fix": {PYTHON: "raise it", COMMAND_LINE: "raise the option"}})
    >>> str(exc)
    'latency_ms=1 is below 2 ms; raise it'
    >>> exc.worded(COMMAND_LINE, lambda keyword, text: f"--{keyword.replace('_', '-')} {text}")
    '--latency-ms 1 is below 2 ms; raise the option'
    """

    def __init__(self, template: str, *, arguments: Mapping[str, object] | None = None,
                 hints: Mapping[str, Mapping[str, str]] | None = None):
        self.template = template
        self.arguments = dict(arguments or {})
        self.hints = {name: dict(texts) for name, texts in (hints or {}).items()}
        super().__init__(self.worded(PYTHON, python_spelling))

    def worded(self, audience: str, spell: Spelling) -> str:
        """The message for ``audience`` (:data:`PYTHON` or :data:`COMMAND_LINE`), arguments spelled by ``spell``."""
        if not self.arguments and not self.hints:  # a plain message (or one rebuilt from its text alone)
            return self.template
        fields: dict[str, object] = {k: _Argument(k, v, spell, audience) for k, v in self.arguments.items()}
        fields.update({name: texts[audience] for name, texts in self.hints.items()})
        return self.template.format(**fields)

    def __reduce__(self):
        # pickled across processes (a search's restarts run in executors) with its parts, not only its text
        return _rebuilt, (type(self), self.template, self.arguments, self.hints)


def _rebuilt(cls: type[WordedError], template: str, arguments: dict, hints: dict) -> WordedError:
    return cls(template, arguments=arguments, hints=hints)
