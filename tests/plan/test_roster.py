"""Reading accounts from `accountsFrom` ConfigMap values: CSV and YAML, and every error with its line."""

from __future__ import annotations

import pytest

from idlcm.api import spec
from idlcm.roster import MAX_ROWS, Roster, RosterError, field_name, parse_roster

EXPECTED = "userName, displayName, givenName, familyName, email, title, department, active, groups"


def csv(text: str) -> Roster:
    return parse_roster(text, key="accounts.csv", format="Auto")


def yaml(text: str) -> Roster:
    return parse_roster(text, key="accounts.yaml", format="Auto")


def messages(roster: Roster) -> list[str]:
    return [str(e) for e in roster.errors]


# CSV.


def test_csv_rows_become_accounts() -> None:
    roster = csv(
        "userName,displayName,givenName,familyName,email,active,title,department,groups\n"
        "alice,Alice A,Alice,A,alice@example.com,true,Engineer,R&D,staff;admins\n"
        'bob,"B, Bob",,,,no,,,\n'
    )
    assert roster.errors == []
    assert roster.accounts == [
        spec.Account(
            user_name="alice",
            display_name="Alice A",
            given_name="Alice",
            family_name="A",
            email="alice@example.com",
            active=True,
            title="Engineer",
            department="R&D",
            groups=("staff", "admins"),
        ),
        spec.Account(user_name="bob", display_name="B, Bob", active=False),
    ]


def test_csv_headers_are_matched_ignoring_case_and_separators_and_aliases_work() -> None:
    roster = csv("\ufeffUser Name,E-Mail,first_name,LastName,ACTIVE\nalice,a@x.io,Al,Ice,\n")
    assert roster.errors == []
    assert roster.accounts == [
        spec.Account(user_name="alice", email="a@x.io", given_name="Al", family_name="Ice")
    ]
    assert field_name("user_name") == field_name("username") == field_name("userName") == "user_name"


@pytest.mark.parametrize(
    ("cell", "active"),
    [("true", True), ("Yes", True), ("1", True), ("", True), ("FALSE", False), ("no", False), ("0", False)],
)
def test_csv_active_accepts_true_false_yes_no_one_zero_and_empty_means_true(cell: str, active: bool) -> None:
    assert csv(f"userName,active\nalice,{cell}\n").accounts[0].active is active


def test_csv_empty_cells_leave_fields_unset_and_spaces_are_trimmed() -> None:
    (alice,) = csv("userName , email ,title,groups\n  alice , ,, a ; ;b \n").accounts
    assert alice == spec.Account(user_name="alice", groups=("a", "b"))


def test_csv_blank_lines_are_skipped_and_quoted_newlines_keep_line_numbers() -> None:
    roster = csv('userName,title\n\nalice,"two\nlines"\n\nbob,x\n,missing\n')
    assert [a.user_name for a in roster.accounts] == ["alice", "bob"]
    assert messages(roster) == ["line 7: userName is missing"]


def test_csv_without_a_header_row_is_an_error() -> None:
    assert messages(csv("")) == ["no header row: the first line must name the columns, e.g. userName,email"]


def test_csv_header_only_holds_no_accounts() -> None:
    assert csv("userName,email\n") == Roster([], [])


def test_csv_unknown_column_is_an_error_not_ignored() -> None:
    roster = csv("userName,emial\nalice,a@x.io\n")
    assert roster.accounts == []
    assert messages(roster) == [f"line 1: column 2: unknown column 'emial'; expected {EXPECTED}"]


def test_csv_without_a_user_name_column_is_one_error() -> None:
    roster = csv("email,title\na@x.io,x\nb@x.io,y\n")
    assert messages(roster) == ["line 1: no userName column"]


def test_csv_column_given_twice_or_without_a_name_is_an_error() -> None:
    assert messages(csv("userName,username\na,a\n")) == ["line 1: column 2: userName is given twice"]
    assert messages(csv("userName,,email\na,,\n")) == ["line 1: column 2 has no name"]


def test_csv_row_without_user_name_is_an_error_with_its_line_number() -> None:
    roster = csv("userName,email\nalice,a@x.io\n,b@x.io\ncarol,\n")
    assert [a.user_name for a in roster.accounts] == ["alice", "carol"]
    assert roster.errors == [RosterError(3, "userName is missing")]


def test_csv_row_with_more_cells_than_columns_is_an_error() -> None:
    assert messages(csv("userName,email\nalice,a@x.io,extra\n")) == [
        "line 2: 3 cells, but the header names 2 columns"
    ]


def test_csv_invalid_values_are_errors_naming_the_field_and_user_but_not_the_value() -> None:
    roster = csv("userName,email,active\nalice,alice-at-example.com,maybe\nbob,b@x.io,1\n")
    assert [a.user_name for a in roster.accounts] == ["bob"]
    assert messages(roster) == [
        f"line 2: alice: email: {spec.EMAIL_REFUSED}; active must be one of true, false, yes, no, 1, 0"
    ]
    assert "alice-at-example.com" not in str(roster.errors)
    assert "maybe" not in str(roster.errors)


def test_csv_values_longer_than_the_crd_allows_are_errors() -> None:
    long = "x" * 257
    roster = csv(f"userName,title,groups\n{long},,\nalice,{long},\nbob,,{'g;' * 101}\ncarol,,{long}\n")
    assert messages(roster) == [
        "line 2: userName is longer than 256 characters",
        "line 3: alice: title is longer than 256 characters",
        "line 4: bob: more than 100 groups",
        "line 5: carol: a group name is empty or longer than 256 characters",
    ]


def test_csv_user_name_repeated_in_another_case_is_an_error() -> None:
    roster = csv("userName\nalice\nbob\nALICE\n")
    assert [a.user_name for a in roster.accounts] == ["alice", "bob"]
    assert messages(roster) == ["line 4: ALICE: userName repeats line 2 (case-insensitively)"]


def test_malformed_csv_is_an_error_not_an_exception() -> None:
    roster = csv('userName,title\nalice,"unclosed\n')
    assert len(roster.errors) == 1
    assert roster.errors[0].message.startswith("not valid CSV")


def test_ten_thousand_csv_rows_parse() -> None:
    rows = "".join(f"user{i},User {i},user{i}@example.com,{i % 2},staff;team{i % 7}\n" for i in range(10_000))
    roster = csv("userName,displayName,email,active,groups\n" + rows)
    assert roster.errors == []
    assert len(roster.accounts) == 10_000
    assert roster.accounts[-1].groups == ("staff", "team3")


def test_more_than_the_row_limit_is_refused() -> None:
    roster = csv("userName\n" + "u\n" * (MAX_ROWS + 1))
    assert roster.accounts == []
    assert messages(roster)[-1] == f"more than {MAX_ROWS} accounts in one source: split it into several"


# YAML.


def test_yaml_list_of_mappings_becomes_accounts() -> None:
    roster = yaml(
        "- userName: alice\n"
        "  email: alice@example.com\n"
        "  groups: [staff, admins]\n"
        "- username: bob\n"
        "  active: false\n"
        "  title: null\n"
    )
    assert roster.errors == []
    assert roster.accounts == [
        spec.Account(user_name="alice", email="alice@example.com", groups=("staff", "admins")),
        spec.Account(user_name="bob", active=False),
    ]


def test_yaml_mapping_with_an_accounts_list_becomes_accounts() -> None:
    roster = yaml("accounts:\n  - userName: alice\n  - userName: bob\n")
    assert [a.user_name for a in roster.accounts] == ["alice", "bob"]


def test_yaml_empty_list_holds_no_accounts_but_an_empty_document_is_an_error() -> None:
    assert yaml("[]") == Roster([], [])
    assert messages(yaml("")) == ["expected a YAML list of accounts (or a mapping with an `accounts:` list)"]


def test_yaml_of_another_shape_is_an_error() -> None:
    for text in ("userName: alice\n", "accounts: {}\n", "users:\n  - userName: alice\n", "just text"):
        assert len(yaml(text).errors) == 1, text


def test_yaml_errors_give_the_item_and_its_line() -> None:
    roster = yaml(
        "- userName: alice\n"  # line 1
        "- email: b@x.io\n"  # line 2
        "- userName: 42\n"  # line 3
        "- userName: carol\n"  # line 4
        "  emial: c@x.io\n"
        "- just a string\n"  # line 6
        "- userName: dave\n"  # line 7
        "  active: maybe\n"
        "  groups: admins\n"
        "  department: 7\n"
        "- {userName: erin, userName: erin2}\n"  # line 11
        "- {userName: frank, user_name: frank, email: f@x.io, EMail: f@x.io}\n"  # line 12
    )
    assert [a.user_name for a in roster.accounts] == ["alice"]
    assert messages(roster) == [
        "line 2: item 2: userName is missing",
        "line 3: item 3: userName must be text",
        f"line 4: item 4: unknown field 'emial'; expected {EXPECTED}",
        "line 6: item 5: expected a mapping of account fields",
        "line 7: item 6 (dave): department must be text; active must be one of true, false, yes, no, 1, 0; "
        "groups must be a list of group names",
        "line 11: item 7: given twice: userName",
        "line 12: item 8: given twice: email, userName",
    ]


def test_invalid_yaml_is_an_error_with_its_line_not_an_exception() -> None:
    roster = yaml("- userName: alice\n- userName: [bob\n")
    assert len(roster.errors) == 1
    assert roster.errors[0].line == 3
    assert roster.errors[0].message.startswith("not valid YAML")


def test_yaml_invalid_email_is_an_error_without_the_value() -> None:
    roster = yaml("- userName: alice\n  email: not-an-address\n")
    assert messages(roster) == [f"line 1: item 1 (alice): email: {spec.EMAIL_REFUSED}"]


# Format detection.


def test_auto_reads_csv_when_the_key_ends_in_csv_else_yaml() -> None:
    text = "userName\nalice\n"
    assert [a.user_name for a in parse_roster(text, key="people.CSV", format="Auto").accounts] == ["alice"]
    assert parse_roster(text, key="people.yaml", format="Auto").errors  # a YAML string, not a list
    assert [a.user_name for a in parse_roster(text, key="people.txt", format="CSV").accounts] == ["alice"]
    yaml_text = "- userName: alice\n"
    assert [a.user_name for a in parse_roster(yaml_text, key="people.csv", format="YAML").accounts] == [
        "alice"
    ]
