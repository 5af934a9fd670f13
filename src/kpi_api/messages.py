"""Messages a client reads, in English and Dutch, with a stable code.

A :class:`Message` is defined once (as a module-level constant next to the code that raises
it) and rendered strictly: a parameter its text names but the caller does not give, or one the
caller gives that no text names, raises :class:`MessageError` instead of showing ``{kpi}`` to
a vendor. The English and Dutch texts must name the same parameters (checked at import).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The languages every message has; English is the default (``i18n.language``).
LANGUAGES = ("en", "nl")


class MessageError(ValueError):
    """A message rendered with missing or unknown parameters (a programming error)."""


def _fields(template: str) -> frozenset[str]:
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            if not name or name.isdigit():
                raise MessageError(f"positional field in message text {template!r}")
            names.add(name.split(".")[0].split("[")[0])
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class Message:
    """A stable ``code`` with its English and Dutch text (``str.format`` templates)."""

    code: str
    en: str
    nl: str
    params: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        en, nl = _fields(self.en), _fields(self.nl)
        if en != nl:
            raise MessageError(
                f"message {self.code!r}: English names {sorted(en)}, Dutch names {sorted(nl)}"
            )
        object.__setattr__(self, "params", en)

    def render(self, lang: str, /, **params: object) -> str:
        """The text in ``lang`` (``"nl"``; anything else is English) with ``params`` filled in.

        Raises :class:`MessageError` if a parameter is missing or unknown.
        """
        self.check(params)
        return (self.nl if lang == "nl" else self.en).format(**params)

    def texts(self, **params: object) -> dict[str, str]:
        """The text in every language, by language code."""
        return {lang: self.render(lang, **params) for lang in LANGUAGES}

    def check(self, params: Mapping[str, object]) -> None:
        """Raise :class:`MessageError` unless ``params`` names exactly this message's fields."""
        given = set(params)
        if given != self.params:
            missing, unknown = sorted(self.params - given), sorted(given - self.params)
            raise MessageError(
                f"message {self.code!r}: missing parameters {missing}, unknown {unknown}"
            )
