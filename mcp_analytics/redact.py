"""Keep passwords out of anything printed or logged."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I
)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)

MASK = "***"


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by ***; safe on non-URLs too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{MASK}@{netloc[1]}"))


def redact_text(text: str) -> str:
    """Mask passwords in free text (error messages can echo a connection string)."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", text)
