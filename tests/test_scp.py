import pytest

from heartcare.errors import HeartcareError
from heartcare.sources.scp import (
    group_by_kind,
    parse_scp_codes,
    statement,
    statements,
    superclasses,
)


def test_table_has_ptbxl_71_statements() -> None:
    table = statements()
    assert len(table) == 71
    assert table["NORM"].diagnostic_class == "NORM"
    assert table["AFIB"].kinds == ("rhythm",)
    assert set(table["NDT"].kinds) == {"diagnostic", "form"}


def test_parse_scp_codes_is_literal_only() -> None:
    assert parse_scp_codes("{'NORM': 100.0, 'SR': 0.0}") == {"NORM": 100.0, "SR": 0.0}
    with pytest.raises(HeartcareError, match="db.csv"):
        parse_scp_codes("__import__('os').system('true')", source="db.csv")


def test_grouping_and_superclasses() -> None:
    codes = {"IMI": 80.0, "SR": 0.0, "NDT": 100.0, "LVH": 50.0}
    groups = group_by_kind(codes)
    assert set(groups["diagnostic"]) == {"IMI", "NDT", "LVH"}
    assert set(groups["form"]) == {"NDT"}
    assert set(groups["rhythm"]) == {"SR"}
    assert superclasses(codes) == ["MI", "STTC", "HYP"]


def test_unknown_code_is_named() -> None:
    with pytest.raises(HeartcareError, match="'XYZ'"):
        statement("XYZ")
