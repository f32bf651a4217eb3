"""Password rules, as Django's default validators phrase them (the React client shows these)."""

from __future__ import annotations

# The most common passwords of the public breach lists; Django ships 20k, these cover the top.
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 passw0rd p@ssw0rd p@ssword 12345678 123456789
    1234567890 11111111 00000000 88888888 87654321 12341234 qwertyui qwerty123 qwertyuiop
    1q2w3e4r 1qaz2wsx zaq12wsx abc12345 abcd1234 iloveyou sunshine princess football baseball
    superman batman123 welcome1 welcome123 letmein1 trustno1 monkey123 dragon123 master123
    shadow123 michael1 jennifer jordan23 starwars whatever computer internet changeme default1
    admin123 administrator pakistan pakistan1 pakistan123 karachi123 lahore123 islamabad
    madeinpk madeinpk1 asdfghjk asdfasdf zxcvbnm1 qazwsxedc mustang1 harley12 charlie1
    """.split()
)
MIN_LENGTH = 8
MAX_LENGTH = 128


def password_problems(password: str, *, username: str = "", email: str = "") -> list[str]:
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(
            f"This password is too short. It must contain at least {MIN_LENGTH} characters."
        )
    if len(password) > MAX_LENGTH:
        problems.append(f"Ensure this field has no more than {MAX_LENGTH} characters.")
    if password.lower().strip() in COMMON_PASSWORDS:
        problems.append("This password is too common.")
    if password.isdigit():
        problems.append("This password is entirely numeric.")
    lowered = password.lower()
    for attribute in (username.lower(), email.lower().split("@")[0]):
        if len(attribute) >= 4 and (attribute in lowered or lowered in attribute):
            problems.append("The password is too similar to the username.")
            break
    return problems
