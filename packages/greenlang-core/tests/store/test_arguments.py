"""Paging arguments are refused before a store sees them, whatever the store's own integer width."""

from __future__ import annotations

import pytest

from greenlang.auth.backends.arguments import check_page
from greenlang.errors import InputError


@pytest.mark.parametrize("limit", [-1, 2**63, 2**70, 1.5, True, "10"])
def test_a_limit_no_database_can_take_is_refused_naming_limit(limit: object) -> None:
    with pytest.raises(InputError, match=r"^limit must be an integer from 0 to 9223372036854775807"):
        check_page(limit, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset", [-1, 2**63])
def test_an_offset_out_of_range_is_refused_naming_it(offset: int) -> None:
    with pytest.raises(InputError, match=r"^after_sequence must be an integer"):
        check_page(None, offset, "after_sequence")


def test_the_largest_counts_are_accepted() -> None:
    check_page(2**63 - 1, 2**63 - 1)
    check_page(None, 0)
