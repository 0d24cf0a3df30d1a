"""Text that comes in from outside and text that goes out onto a page, for every surface.

In: every string of a submission must be valid Unicode (a lone surrogate such as ``"\\ud800"``
decodes from JSON but cannot be stored or shown): ``check_unicode`` raises ``InvalidText``
naming the field (the web answers it with a 400, before anything is stored; a file is
unreadable). Out: control characters (C0 and C1 controls, DEL, and the bidi controls that can
make text read backwards) never reach a page as themselves: the batch report and the web pages
render every template expression through ``visible``, which shows each as a visible sign.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from .errors import SubmissionError

# C0 controls but tab, newline and carriage return; DEL; C1 controls; bidi marks, embeddings,
# overrides and isolates.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")
# A name (a student's) has no business holding tabs or newlines either.
NAME_CONTROL = re.compile(f"[\t\n\r{CONTROL.pattern[1:-1]}]")


def _sign(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)          # the Unicode control pictures: U+0007 is shown ␇
    if code == 0x7F:
        return "\u2421"                    # ␡
    return f"[U+{code:04X}]"


def visible(value: object) -> object:
    """Jinja's ``finalize``: a string with its control characters shown as visible signs.

    A Markup string (a macro's output) stays Markup: the signs are plain text, so it is as safe
    as it was; any other string is escaped by the template as usual."""
    if isinstance(value, str) and CONTROL.search(value):
        shown = CONTROL.sub(_sign, value)
        return Markup(shown) if isinstance(value, Markup) else shown
    return value


def first_control(text: str, pattern: re.Pattern = CONTROL) -> str | None:
    """``U+0007`` for the first control character in ``text``, or None."""
    match = pattern.search(text)
    return f"U+{ord(match.group()):04X}" if match else None


class InvalidText(SubmissionError):
    """A string that is not valid Unicode; ``field`` names where it was in the data, ``where``
    (a file's path, ``"the request"``) the data itself."""

    def __init__(self, field: str, position: int, char: str, where: str = ""):
        self.field, self.position, self.char = field, position, char
        message = ((f'"{field}" ' if field else "") + "is not valid Unicode text: it holds a "
                   f"lone surrogate (U+{ord(char):04X}) at character {position + 1}; "
                   "send UTF-8 text")
        super().__init__(f"{where}: {message}" if where else message)


def check_unicode(value: object, field: str = "", where: str = "") -> None:
    """Raise ``InvalidText`` naming the first string (value or key) in ``value`` that does not
    encode as UTF-8, with its dotted path (``answers.b``; none for a plain string)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidText(field, err.start, value[err.start], where) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            if isinstance(key, str):
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError as err:
                    raise InvalidText(f"{field or 'body'} (a key)", err.start,
                                      key[err.start], where) from None
            check_unicode(item, name, where)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            check_unicode(item, f"{field}[{n}]" if field else f"[{n}]", where)
