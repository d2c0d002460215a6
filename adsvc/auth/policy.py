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
