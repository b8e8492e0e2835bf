"""The coding rule as configuration: templates checked at start, codes built and given codes checked."""

from __future__ import annotations

import pytest

from outfalls.config import load_settings
from outfalls.errors import ConfigError, InvalidInput
from outfalls.public.coding import CodeParts, CodingRule, NameParts


def rule(**overrides: object) -> CodingRule:
    return CodingRule.of(load_settings(env={}, overrides={f"coding.{k}": v for k, v in overrides.items()}).coding)


def test_the_default_local_rule_builds_and_checks_codes() -> None:
    r = rule()
    prefix = r.prefix(CodeParts(area="610115", type_code="4.8"))
    assert prefix == "610115-480-{seq}" and r.code(prefix, 12) == "610115-480-0012"
    r.check("610115-480-0012")
    assert r.seq_of("610115-111-10000") == 10000  # a sequence may outgrow its padding, never wrap
    for bad in ("610115-48-0012", "61011-480-0012", "610115-480-12", "610115_480_0012", "x610115-480-0012"):
        with pytest.raises(InvalidInput) as err:
            r.check(bad)
        assert err.value.params["field"] == "local_code" and err.value.params["reason"] == "code_rule"


def test_a_province_replaces_the_rule() -> None:
    r = rule(code_template="SX{area}{river}{type}{seq}", seq_digits=3, type_digits=2)
    prefix = r.prefix(CodeParts(area="610115", type_code="1.1", river="HYD4M-346"))
    assert r.code(prefix, 7) == "SX610115HYD4M34611007"
    r.check("SX610115HYD4M34611007")
    with pytest.raises(InvalidInput, match="river"):
        r.prefix(CodeParts(area="610115", type_code="1.1"))  # the rule needs a river and none is known
    with pytest.raises(InvalidInput, match="type digits"):
        r.prefix(CodeParts(area="610115", type_code="1.1.1", river="HYD4M-346"))


def test_the_name_template() -> None:
    r = rule()
    assert r.name(NameParts("临潼区", "城镇雨洪排口", "渭河", "右岸"), 12) == "临潼区渭河右岸12#城镇雨洪排口"
    assert r.name(NameParts("临潼区", "城镇雨洪排口"), 3) == "临潼区3#城镇雨洪排口"  # no river, no bank


@pytest.mark.parametrize(("key", "value", "message"), [
    ("code_template", "{area}-{type}", "needs the part {seq}"),
    ("code_template", "{area}-{county}-{seq}", "unknown part {county}"),
    ("code_template", "{seq}-{seq}", "twice"),
    ("code_template", "{area}}{seq}", "unmatched brace"),
    ("name_template", "{county}{phone}", "unknown part {phone}"),
    ("seq_digits", 0, "between 1 and 12"),
])  # fmt: skip
def test_a_bad_rule_fails_at_start_naming_its_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        rule(**{key: value})
    assert err.value.params["key"] == f"coding.{key}"


def test_public_fields_are_checked_at_start() -> None:
    with pytest.raises(ConfigError, match="public.fields") as err:
        load_settings(env={}, overrides={"public.fields": ["ref", "name", "assigned_to"]})
    assert "assigned_to" in err.value.message
    with pytest.raises(ConfigError, match="'ref'"):
        load_settings(env={}, overrides={"public.fields": ["name"]})
