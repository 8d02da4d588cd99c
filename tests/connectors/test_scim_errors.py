"""classify() and friends: every HTTP outcome is retryable, permanent or needs-human (no server needed)."""

import email.utils

import pytest

from idlcm.connectors import (
    ConflictError,
    NeedsHumanError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    RetryableError,
    classify,
)
from idlcm.connectors.errors import MAX_RETRY_AFTER, parse_retry_after, scrub


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, RetryableError),
        (408, RetryableError),
        (429, RetryableError),
        (500, RetryableError),
        (502, RetryableError),
        (503, RetryableError),
        (504, RetryableError),
        (400, PermanentError),
        (413, PermanentError),
        (422, PermanentError),
        (301, NeedsHumanError),
        (307, NeedsHumanError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (401, NeedsHumanError),
        (403, NeedsHumanError),
        (501, NeedsHumanError),
        (200, NeedsHumanError),
    ],
)
def test_each_status_has_one_kind(status: int | None, kind: type) -> None:
    error = classify(status, detail="create account alice:")
    assert type(error) is kind
    assert error.status == status
    assert str(error).startswith("create account alice")


def test_specific_errors_still_speak_the_three_words() -> None:
    assert isinstance(classify(409), PermanentError)
    assert isinstance(classify(404), PermanentError)
    assert isinstance(classify(412), RetryableError)


@pytest.mark.parametrize(
    ("status", "problem_class"),
    [
        (401, "InvalidCredentials"),
        (403, "PermissionDenied"),
        (501, "MissingCapability"),
        (200, "InvalidResponse"),
        (302, "InvalidURL"),
    ],
)
def test_needs_human_names_the_problem(status: int, problem_class: str) -> None:
    error = classify(status)
    assert isinstance(error, NeedsHumanError)
    assert error.problem_class == problem_class


def test_retry_after_is_carried() -> None:
    error = classify(429, retry_after=2.5)
    assert isinstance(error, RetryableError)
    assert error.retry_after == 2.5


def test_redirect_says_it_was_not_followed_and_where_it_pointed() -> None:
    assert "never followed" in str(classify(302))
    shown = str(classify(302, location="https://evil.example:8443/steal?token=s3cr3t-value#x"))
    assert "to https://evil.example:8443;" in shown
    assert "s3cr3t" not in shown
    assert "to a relative address" in str(classify(307, location="/elsewhere"))


def test_retry_after_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_retry_after_is_capped_so_a_hostile_app_cannot_stall_or_crash_the_operator() -> None:
    assert parse_retry_after("99999999999999999999") == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER
    assert parse_retry_after("\u0661\u0662") is None  # digits, but not ASCII ones


@pytest.mark.parametrize(
    "text",
    [
        "header Authorization: Bearer abc.def-ghi",
        "got 'authorization': 'Basic dXNlcjpwYXNz'",
        "body access_token=abc123&expires_in=5",
        '{"client_secret": "s3cr3t-value"}',
        "password=hunter22 was wrong",
    ],
)
def test_scrub_removes_credential_shapes(text: str) -> None:
    for secret in ("abc.def-ghi", "dXNlcjpwYXNz", "abc123", "s3cr3t-value", "hunter22"):
        assert secret not in scrub(text)


def test_scrub_removes_known_secrets_and_errors_scrub_themselves() -> None:
    assert scrub("the token is zq-secret-99", ["zq-secret-99"]) == "the token is ***"
    error = classify(400, detail="bad header Authorization: Bearer zq-secret-99")
    assert "zq-secret-99" not in str(error) + repr(error)


def test_scrub_leaves_ordinary_words_alone() -> None:
    text = "the app wants HTTP basic authentication or a bearer token"
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        # An app's own prose after "token:" (seen: "Invalid or missing bearer token: *** app refused ...").
        "Invalid or missing bearer token: the app refused the credentials",
        # The operator's own log lines about an object whose name ends in "-token".
        "team/wrong-token: Validating -> UnderValidation",
        "password: required",
        # Readable identifiers that are long but no credential: digests, UIDs, names, SCIM paths.
        "digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "uid 2819c223-7f76-453a-919d-413861904646 at /scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "idlcm:team-a/crm-sales-integration-of-the-year:0a1b2c3d",
    ],
)
def test_scrub_leaves_prose_and_identifiers_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token: zq8Secret99", "zq8Secret99"),
        ("api_key=plainword", "plainword"),
        ('{"apiKey": "word"}', "word"),
        ("refresh-token=r1", "r1"),
        # A JWT anywhere, by its shape.
        (
            "the app said eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
            ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGciOiJIUzI1NiJ9",
        ),
        # An opaque token by its shape: long, mixing upper case, lower case and digits.
        ("echoed xoxb4A7kQ2mZ9pLr8TnV3wYc6HdJ1sFgE5uB0iO", "xoxb4A7kQ2mZ9pLr8TnV3wYc6HdJ1sFgE5uB0iO"),
    ],
)
def test_scrub_removes_tokens_by_shape_and_key(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    assert "***" in scrub(text)


def test_scrub_leaves_references_to_secrets_alone() -> None:
    # kopf's DEBUG lines show whole specs: a reference to a Secret is not one.
    text = '{"auth": {"bearerToken": {"secretRef": {"name": "acme", "key": "token"}}}, "tokens": ["a"]}'
    assert scrub(text) == text
    assert scrub('{"accessToken": "abc123"}') == '{"accessToken": "***"}'
