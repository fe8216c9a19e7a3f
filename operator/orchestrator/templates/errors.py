"""The one exception type template callers see, and the translation of everything else into it."""

from __future__ import annotations

import re
from types import TracebackType

import jinja2

# Compiled template code (and Jinja's rewritten traceback frames) carry this file name; a frame with it
# has the template line as its line number.
TEMPLATE_FILENAME = "<template>"

_ADDRESS_REPR = re.compile(r"<([\w.]+)(?: object)? at 0x[0-9a-fA-F]+>")
_WHITESPACE = re.compile(r"\s+")


class TemplateError(Exception):
    """A template could not be parsed, rendered or evaluated.

    ``message`` is one human-readable line without location; ``line`` is the 1-based line within the
    template (or expression) when known; ``path`` locates the string inside a structure given to
    ``render_tree`` (empty otherwise). ``str(error)`` combines them, e.g.
    ``spec.name: 'fields' has no attribute 'dbNmae' (line 1)``.
    """

    def __init__(self, message: str, line: int | None = None, path: tuple[str | int, ...] = ()) -> None:
        self.message = message
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message if self.line is None else f"{self.message} (line {self.line})"
        if self.path:
            text = f"{'.'.join(str(segment) for segment in self.path)}: {text}"
        return text

    def located(self, path: tuple[str | int, ...]) -> TemplateError:
        """The same error, placed at ``path`` inside a rendered structure."""
        return TemplateError(self.message, self.line, path)


def one_line(text: str) -> str:
    """``text`` as a single line, with object addresses (``<foo object at 0x..>``) reduced to a name."""
    return _WHITESPACE.sub(" ", _ADDRESS_REPR.sub(r"<\1>", text)).strip()


def _template_line(traceback: TracebackType | None) -> int | None:
    """The line of the innermost template frame in ``traceback``, if there is one."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _describe(error: BaseException) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return error.message or "syntax error"
    if isinstance(error, jinja2.TemplateError):
        # UndefinedError, SecurityError and friends: their message is already written for a template
        # author.
        return error.message or type(error).__name__
    if isinstance(error, RecursionError):
        return "the template recurses too deeply"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    if isinstance(error, KeyError) and error.args:
        return f"key {error.args[0]!r} not found"
    text = str(error)
    if isinstance(error, TypeError | ValueError | ArithmeticError | LookupError | AttributeError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def wrap_error(error: Exception) -> TemplateError:
    """Translate any exception raised while parsing or rendering a template into a ``TemplateError``."""
    if isinstance(error, TemplateError):
        if error.line is not None:
            return error
        return TemplateError(error.message, _template_line(error.__traceback__), error.path)
    if isinstance(error, jinja2.TemplateSyntaxError):
        line: int | None = error.lineno
    else:
        line = _template_line(error.__traceback__)
    return TemplateError(one_line(_describe(error)), line)
