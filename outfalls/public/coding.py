"""The naming and coding rule (命名与编码规则) as configuration: ``[coding]`` templates of parts (county code, river
code, HJ 1312 type code, a zero-padded sequence per prefix), pure functions to build a code and a name and to check
a given code against the rule. The national rule's layout is not published (DOMAIN.md §3), so nothing here is
the national rule: the default in config.toml is a local one and a province replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from outfalls.config import CodingSettings
from outfalls.errors import ConfigError, InvalidInput

CODE_PARTS = ("area", "river", "type", "seq")
NAME_PARTS = ("county", "river", "bank", "seq", "type")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
KEY = "coding.code_template"
SEQ_MARK = "{seq}"  # stands for the sequence in a code's prefix


@dataclass(frozen=True, slots=True)
class CodeParts:
    """What a code is made of, besides its sequence."""

    area: str  # the county's GB/T 2260 code
    type_code: str  # HJ 1312-2023 type code (4.8)
    river: str | None = None  # the river's reference code


@dataclass(frozen=True, slots=True)
class NameParts:
    """What a generated name is made of."""

    county: str
    type_label: str
    river: str = ""
    bank: str = ""


def _parts(template: str, allowed: tuple[str, ...], key: str) -> list[str]:
    names = _PLACEHOLDER.findall(template)
    for name in names:
        if name not in allowed:
            known = ", ".join("{" + a + "}" for a in allowed)
            raise ConfigError(f"configuration key '{key}' has an unknown part {{{name}}}; use {known}", key=key)
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise ConfigError(f"configuration key '{key}' has an unmatched brace", key=key)
    return names


@dataclass(frozen=True, slots=True)
class CodingRule:
    """A checked coding rule."""

    code_template: str
    seq_digits: int
    type_digits: int
    name_template: str
    left_bank: str
    right_bank: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, settings: CodingSettings) -> CodingRule:
        """The rule of ``[coding]``.

        Raises:
            ConfigError: an unknown part, no ``{seq}`` in the code, a part used twice, or digits out of range.
        """
        parts = _parts(settings.code_template, CODE_PARTS, "coding.code_template")
        if "seq" not in parts:
            raise ConfigError("configuration key 'coding.code_template' needs the part {seq}", key=KEY)
        if len(parts) != len(set(parts)):
            raise ConfigError("configuration key 'coding.code_template' uses a part twice", key=KEY)
        _parts(settings.name_template, NAME_PARTS, "coding.name_template")
        for key, value in (("seq_digits", settings.seq_digits), ("type_digits", settings.type_digits)):
            if not 1 <= value <= 12:
                raise ConfigError(f"configuration key 'coding.{key}' must be between 1 and 12, not {value!r}",
                                  key=f"coding.{key}")  # fmt: skip
        regex = {"area": r"\d{6}", "river": r"[A-Z0-9]+", "type": rf"\d{{{settings.type_digits}}}",
                 "seq": rf"\d{{{settings.seq_digits},}}"}  # fmt: skip
        pieces, last = [], 0
        for m in _PLACEHOLDER.finditer(settings.code_template):
            pieces.append(re.escape(settings.code_template[last : m.start()]))
            pieces.append(f"(?P<{m.group(1)}>{regex[m.group(1)]})")
            last = m.end()
        pieces.append(re.escape(settings.code_template[last:]))
        return cls(settings.code_template, settings.seq_digits, settings.type_digits, settings.name_template,
                   settings.left_bank, settings.right_bank, re.compile("".join(pieces)))  # fmt: skip

    @property
    def needs_river(self) -> bool:
        """Whether codes carry the river's code (an outfall with no river then gets none)."""
        return "{river}" in self.code_template

    def type_part(self, type_code: str) -> str:
        """The HJ 1312 type code without its dots, padded with 0 (4.8 → 480).

        Raises:
            InvalidInput: a type code that is not dotted digits or longer than the rule's digits.
        """
        digits = type_code.replace(".", "")
        if not re.fullmatch(r"\d+(\.\d+)*", type_code) or len(digits) > self.type_digits:
            raise InvalidInput(f"type {type_code!r} does not fit the coding rule's {self.type_digits} type digits",
                               field="type_code", value=type_code)  # fmt: skip
        return digits.ljust(self.type_digits, "0")

    def prefix(self, parts: CodeParts) -> str:
        """The code without its sequence (``{seq}`` in its place): codes with the same prefix share one sequence.

        Raises:
            InvalidInput: an area code that is not six digits, a type that does not fit, no river when one is needed.
        """
        if not re.fullmatch(r"\d{6}", parts.area):
            raise InvalidInput(f"area code {parts.area!r} is not a six-digit GB/T 2260 code", field="area")
        river = re.sub(r"[^A-Za-z0-9]", "", parts.river or "").upper()
        if self.needs_river and not river:
            raise InvalidInput("the coding rule needs the receiving river, and none is known", field="river")
        values = {"area": parts.area, "river": river, "type": self.type_part(parts.type_code), "seq": SEQ_MARK}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.code_template)

    def code(self, prefix: str, seq: int) -> str:
        """The code with sequence ``seq`` in ``prefix``."""
        if seq < 1:
            raise InvalidInput("a sequence starts at 1", field="seq")
        return prefix.replace(SEQ_MARK, f"{seq:0{self.seq_digits}d}")

    def check(self, code: str) -> None:
        """Refuse a given code that does not follow the rule.

        Raises:
            InvalidInput: ``field="local_code"``, reason ``code_rule``.
        """
        if not self.pattern.fullmatch(code.strip()):
            raise InvalidInput(f"code {code!r} does not follow the coding rule {self.code_template} "
                               f"({self.seq_digits}-digit sequence)", field="local_code", value=code,
                               reason="code_rule")  # fmt: skip

    def seq_of(self, code: str) -> int:
        """The sequence of a code that follows the rule.

        Raises:
            InvalidInput: the code does not follow the rule.
        """
        self.check(code)
        match = self.pattern.fullmatch(code.strip())
        return int(match["seq"]) if match else 0

    def name(self, parts: NameParts, seq: int) -> str:
        """The name the rule gives an outfall that has none."""
        values = {"county": parts.county, "river": parts.river, "bank": parts.bank if parts.river else "",
                  "seq": str(seq), "type": parts.type_label}  # fmt: skip
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.name_template).strip()
