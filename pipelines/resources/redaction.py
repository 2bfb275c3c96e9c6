"""Secrets never reach a log line: known values from the settings and credential-shaped patterns
(passwords in URLs, Slack webhook paths, bearer tokens) are masked before a message is emitted."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_PATTERNS = (
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s]+(?P<post>@)"), r"\g<pre>***\g<post>"),
    (re.compile(r"(?P<pre>hooks\.slack\.com/services/)[^\s\"']+"), r"\g<pre>***"),
    (re.compile(r"(?P<pre>(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<pre>***"),
    (re.compile(r"(?P<pre>(?i:password|passwd|secret|token)=)[^&\s\"']+"), r"\g<pre>***"),
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first: a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter: formats the record's message once, masked."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = self.redactor(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install(redactor: Redactor, logger: logging.Logger | None = None) -> None:
    """Mask secrets in everything the handlers of `logger` (default: root) emit."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
