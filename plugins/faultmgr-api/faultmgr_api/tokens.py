"""Bearer tokens: a private file of ``name scope token`` lines, looked up in constant time."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

from faultmgr.config.types import check_private_file

SCOPES = ("read", "admin")
#: Shortest token accepted: a guessable token is worse than none.
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Token:
    """One caller: ``name`` goes into the journal for every change it makes."""

    name: str
    scope: str
    secret: str

    def allows(self, scope: str) -> bool:
        """``admin`` may do everything ``read`` may."""
        return self.scope == "admin" or scope == "read"


class TokenError(ValueError):
    """The tokens file is unusable (mode, syntax); the message names the file and line."""


def parse_tokens(text: str, origin: str = "tokens file") -> list[Token]:
    """Parse ``name scope token`` lines; ``#`` starts a comment."""
    tokens: list[Token] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise TokenError(f"{origin}:{number}: expected `name scope token`, found {len(parts)} field(s)")
        name, scope, secret = parts
        if scope not in SCOPES:
            raise TokenError(f"{origin}:{number}: scope {scope!r} is not one of {', '.join(SCOPES)}")
        if len(secret) < MIN_TOKEN_LENGTH:
            raise TokenError(f"{origin}:{number}: token of {name!r} is shorter than {MIN_TOKEN_LENGTH} characters")
        if any(t.name == name for t in tokens):
            raise TokenError(f"{origin}:{number}: token name {name!r} is used twice")
        tokens.append(Token(name, scope, secret))
    return tokens


def load_tokens(path: Path) -> list[Token]:
    """Read a tokens file, refusing one that others can read (``TokenError``)."""
    try:
        check_private_file(path, "api tokens file")
    except ValueError as exc:
        raise TokenError(str(exc)) from None
    return parse_tokens(path.read_text(encoding="utf-8"), str(path))


class TokenTable:
    """Finds the caller of a request from its secret; compares every entry so timing tells nothing."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = list(tokens)

    def find(self, secret: str) -> Token | None:
        found: Token | None = None
        offered = secret.encode()
        for token in self.tokens:
            if hmac.compare_digest(token.secret.encode(), offered):
                found = token
        return found
