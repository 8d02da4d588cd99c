"""Account emails: the quick check of common addresses never admits one that SCIM's EmailStr refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import validate_email

from idlcm.api.spec import _plain_email, is_email

_ATOMS = st.text(alphabet="aZ09_+-.", min_size=0, max_size=8)
_LABELS = st.text(alphabet="aZ09-", min_size=0, max_size=8)
_TOPS = st.sampled_from(["com", "io", "c", "test", "Local", "onion", "x1", "123", "arpa", "example", ""])


def _refused(address: str) -> bool:
    try:
        validate_email(address)
    except ValueError:
        return True
    return False


@settings(max_examples=600, derandomize=True)
@given(st.lists(_ATOMS, min_size=1, max_size=3), st.lists(_LABELS, min_size=0, max_size=3), _TOPS)
def test_an_address_the_quick_check_admits_is_one_email_str_admits(
    locals_: list[str], labels: list[str], top: str
) -> None:
    address = ".".join(locals_) + "@" + ".".join([*labels, top])
    if _plain_email(address):
        assert not _refused(address), address


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "first.last+tag@mail.example.co.uk",
        "a@b",
        "ops@corp.local",
        "a..b@example.com",
        "x@foo.test",
        "x@xn--abc.com",
        "x@-foo.com",
        "x@1.2.3.4",
        "Ada <ada@example.com>",
        "ünï@example.com",
        "x@foo.c",
    ],
)
def test_is_email_agrees_with_email_str(address: str) -> None:
    assert is_email(address) == (not _refused(address) and "<" not in address)
