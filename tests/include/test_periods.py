from datetime import date

import pytest

from include.periods import MONTH_PATTERN, checked_month, is_month, month_label, parse_month
from include.settings import ConfigError


@pytest.mark.parametrize("text", ["2025-01", "1999-12", "2025-10"])
def test_a_billing_month_parses_to_its_first_day_and_back(text):
    parsed = parse_month(text)
    assert (parsed.day, month_label(parsed), checked_month(text), is_month(text)) == (1, text, text, True)
    assert parsed == date(int(text[:4]), int(text[5:]), 1)


@pytest.mark.parametrize(
    "text", ["2025-13", "2025-00", "2025-1", "25-01", "2025-01-01", "2025-01\n", " 2025-01", 202501]
)
def test_anything_else_is_refused_naming_it(text):
    assert not is_month(text)
    with pytest.raises(ConfigError, match=r"billing period .* must be YYYY-MM"):
        parse_month(text)


def test_the_trigger_forms_pattern_is_the_same_check():
    import re

    for text in ("2025-01", "2025-12", "2025-13", "2025-1"):
        assert bool(re.search(MONTH_PATTERN, text)) == is_month(text)
