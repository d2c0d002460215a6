"""The password policy: what makes a new password acceptable. No I/O."""

from __future__ import annotations

MAX_LENGTH = 256

# The handful of passwords attackers try first; long enough ones still pass the length rule, so name them.
_COMMON = frozenset(
    {
        "password1234", "123456789012", "qwertyuiop12", "passwordpassword", "administrator",
        "letmein12345", "welcome12345", "changeme1234", "iloveyou1234", "adminadmin12",
    }
)  # fmt: skip


# JSON Schema marker on the fields the policy applies to; the OpenAPI document replaces it by policy_json_schema
POLICY_MARKER = "x-adsvc-password-policy"

# at least 4 different characters: some 4 of them, in order, each unlike the ones before
_FOUR_DIFFERENT = r"([\s\S])[\s\S]*?(?!\1)([\s\S])[\s\S]*?(?!\1|\2)([\s\S])[\s\S]*?(?!\1|\2|\3)[\s\S]"


def _whitespace_class() -> str:
    """str.strip()'s whitespace as a regex class body (it differs from JSON Schema's \\s on a few characters)."""
    spaces = [code for code in range(0x3001) if chr(code).isspace()]
    ranges: list[tuple[int, int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_SPACE = _whitespace_class()


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def policy_json_schema(min_length: int) -> dict[str, object]:
    """The policy as JSON Schema, for the OpenAPI document; all of it but the email rule, which needs the email."""
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": MAX_LENGTH,
        "allOf": [
            {"pattern": f"^[^{_SPACE}]([\\s\\S]*[^{_SPACE}])?$"},
            {"pattern": _FOUR_DIFFERENT},
            {"not": {"pattern": "\\x00"}},
        ],
        "not": {"pattern": "^(" + "|".join(_any_case(word) for word in sorted(_COMMON)) + ")$"},
        "description": f"{min_length} to {MAX_LENGTH} characters, at least 4 different ones, no whitespace at either "
        "end, not one of the commonest passwords, and not containing the part of the email before the @ (when that "
        "has 4 or more characters)",
    }


def password_problems(password: str, *, email: str, min_length: int) -> list[str]:
    """Every rule the password breaks, in words a person can act on; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    if password.strip() != password:
        problems.append("must not start or end with whitespace")
    if len(set(password)) < 4:
        problems.append("must contain at least 4 different characters")
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if lowered in _COMMON:
        problems.append("is too common")
    if len(local_part) >= 4 and local_part in lowered:
        problems.append("must not contain your email name")
    return problems
