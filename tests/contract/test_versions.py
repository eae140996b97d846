"""Version strings as the products report them, read into comparable numbers for capability checks."""

import pytest

from atlassian_clients.base import version_tuple


@pytest.mark.parametrize(
    ("reported", "numbers"),
    [
        ("10.3.24", (10, 3, 24)),
        ("8", (8,)),
        ("9.4.0-rc1", (9, 4, 0)),  # a pre-release still compares as its release
        ("10.3.4-m0001", (10, 3, 4)),
        ("1.2a.3", (1, 2)),  # stops inside the first part that is not a plain number
        ("1..2", (1,)),
        ("v1.2", ()),
        ("", ()),
    ],
)
def test_version_tuple_reads_the_leading_dotted_numbers(reported, numbers):
    assert version_tuple(reported) == numbers
