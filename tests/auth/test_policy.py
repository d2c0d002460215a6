"""The password policy, without I/O."""

from adsvc.auth.policy import password_problems


def test_acceptable_password_has_no_problems():
    assert password_problems("a long enough passphrase", email="ana@example.com", min_length=12) == []


def test_each_rule_reports_its_problem():
    assert password_problems("short", email="a@b.c", min_length=12) == ["must be at least 12 characters long"]
    assert "must contain at least 4 different characters" in password_problems(
        "abababababababab", email="a@b.c", min_length=12
    )
    assert "is too common" in password_problems("Password1234", email="a@b.c", min_length=12)
    assert "must not contain your email name" in password_problems(
        "mariana-secret-42", email="mariana@example.com", min_length=12
    )
    assert "must not start or end with whitespace" in password_problems(
        " leading space pass", email="a@b.c", min_length=12
    )
    assert "must be at most 256 characters long" in password_problems("ab1!" * 100, email="a@b.c", min_length=12)
