"""Where things are in a JSON text: the line of every array element and object member.

``json.loads`` gives values without positions, and keeps the last of two equal
keys without a word. Walking the text with ``raw_decode`` gives each portfolio and
holding its line (so a bad one is reported where it is) and finds repeated keys.
Use it on text ``json.loads`` has accepted: syntax errors are reported there.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


@dataclass
class Located:
    """A decoded value, where it starts, and for an object where each member's value starts."""

    value: object
    offset: int
    line: int
    members: dict[str, Located] = field(default_factory=dict)
    repeated_keys: list[str] = field(default_factory=list)


class JsonText:
    def __init__(self, text: str) -> None:
        self.text = text
        self._newlines = [match.start() for match in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1

    def _skip(self, offset: int) -> int:
        while offset < len(self.text) and self.text[offset] in _WHITESPACE:
            offset += 1
        return offset

    def root(self) -> Located:
        return self.locate(0)

    def elements(self, array: Located) -> list[Located]:
        """The elements of a located array, each located (objects with their members)."""
        found: list[Located] = []
        offset = self._skip(array.offset + 1)  # past "["
        while self.text[offset] != "]":
            element = self.locate(offset)
            found.append(element)
            _, offset = _DECODER.raw_decode(self.text, element.offset)
            offset = self._skip(offset)
            if self.text[offset] == ",":
                offset = self._skip(offset + 1)
        return found

    def locate(self, offset: int) -> Located:
        """The value starting at ``offset`` (after whitespace)."""
        offset = self._skip(offset)
        value, end = _DECODER.raw_decode(self.text, offset)
        located = Located(value, offset, self.line_of(offset))
        if isinstance(value, dict):
            self._members(located, end)
        return located

    def _members(self, located: Located, end: int) -> None:
        offset = self._skip(located.offset + 1)  # past "{"
        while offset < end and self.text[offset] != "}":
            key, offset = _DECODER.raw_decode(self.text, offset)
            offset = self._skip(self._skip(offset) + 1)  # past ":"
            if key in located.members:
                located.repeated_keys.append(key)
            value, after = _DECODER.raw_decode(self.text, offset)
            located.members[key] = Located(value, offset, self.line_of(offset))
            offset = self._skip(after)
            if self.text[offset] == ",":
                offset = self._skip(offset + 1)
