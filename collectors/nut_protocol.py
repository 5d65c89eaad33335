"""NUT's network protocol, the pure part: quoting, tokenizing answers, error codes.

No I/O here (``nut_client`` does that). The rules come from NUT's ``docs/net-protocol.txt``:
words are separated by spaces; a word may be a double-quoted string in which "embedded
quotes are escaped with backslashes; embedded backslashes are also escaped". Answers are
one line each, multi-line lists are framed by ``BEGIN LIST ...`` / ``END LIST ...``, and
failures are ``ERR <CODE> [extra]``.
"""

from __future__ import annotations

from upkeep.errors import AuthFailed, CollectorError, ProtocolError, Reason

#: upsd's error codes -> the reason code a failed reading carries (``upkeep_poll_error``)
ERROR_REASONS: dict[str, Reason] = {
    "ACCESS-DENIED": Reason.AUTH,
    "PASSWORD-REQUIRED": Reason.AUTH,
    "USERNAME-REQUIRED": Reason.AUTH,
    "INVALID-PASSWORD": Reason.AUTH,
    "INVALID-USERNAME": Reason.AUTH,
    "DATA-STALE": Reason.STALE,
    "DRIVER-NOT-CONNECTED": Reason.DRIVER,
    "UNKNOWN-UPS": Reason.CONFIG,
    "FEATURE-NOT-CONFIGURED": Reason.TLS,
    "FEATURE-NOT-SUPPORTED": Reason.TLS,
    "ALREADY-SSL-MODE": Reason.TLS,
}

#: what an operator should do, per error code (goes into the reading's message)
ERROR_HINTS: dict[str, str] = {
    "ACCESS-DENIED": "upsd rejected the username/password",
    "PASSWORD-REQUIRED": "upsd wants a password: set nut.password",
    "USERNAME-REQUIRED": "upsd wants a username: set nut.username",
    "DATA-STALE": "the UPS driver stopped updating (check the driver and the UPS link)",
    "DRIVER-NOT-CONNECTED": "upsd has no connection to the UPS driver (is it running?)",
    "UNKNOWN-UPS": "upsd does not know this UPS name (see `upsc -l HOST`)",
    "FEATURE-NOT-CONFIGURED": "upsd has no certificate configured, so it offers no STARTTLS",
}

MAX_LINE = 64 * 1024  # longer answer lines are garbage, not data
MAX_LIST_LINES = 20_000  # a LIST longer than this is a misbehaving server


class NutError(CollectorError):
    """upsd answered ``ERR <code>``; ``reason`` follows ``ERROR_REASONS``."""

    def __init__(self, code: str, context: str = "") -> None:
        self.code = code
        hint = ERROR_HINTS.get(code, "")
        where = f" ({context})" if context else ""
        super().__init__(f"upsd: ERR {code}{where}" + (f": {hint}" if hint else ""),
                         reason=ERROR_REASONS.get(code, Reason.PROTOCOL))


def nut_error(code: str, context: str = "") -> CollectorError:
    """The typed error for an ``ERR`` answer (auth problems are ``AuthFailed``)."""
    err = NutError(code, context)
    if err.reason == Reason.AUTH:
        auth = AuthFailed(str(err))
        auth.__cause__ = err
        return auth
    return err


def quote(value: str) -> str:
    """A command argument, quoted and escaped the way upsd's parser expects."""
    if any(ch in value for ch in "\n\r\0"):
        raise ValueError("NUT arguments cannot contain line breaks or NUL")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def split_words(line: str) -> list[str]:
    """Split one answer line into words, honouring quotes and backslash escapes."""
    words: list[str] = []
    current: list[str] = []
    in_word = in_quotes = False
    chars = iter(line)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise ProtocolError(f"dangling backslash in {line[:120]!r}")
            current.append(nxt)
            in_word = True
        elif ch == '"':
            in_quotes = not in_quotes
            in_word = True
        elif ch == " " and not in_quotes:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
    if in_quotes:
        raise ProtocolError(f"unterminated quote in {line[:120]!r}")
    if in_word:
        words.append("".join(current))
    return words


def decode_line(raw: bytes) -> str:
    """One line off the wire. upsd passes drivers' bytes through untouched, so non-UTF-8
    values happen (latin-1 model names); they become U+FFFD instead of failing the poll."""
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def check_error(line: str, context: str = "") -> None:
    """Raise the typed error if ``line`` is an ``ERR`` answer."""
    if line.startswith("ERR"):
        words = line.split()
        raise nut_error(words[1] if len(words) > 1 else "UNKNOWN", context)


def parse_list_item(line: str, kind: str, ups: str | None) -> list[str]:
    """The fields after ``<KIND> [ups]`` of one ``LIST`` line (e.g. ``VAR ups name "value"``)."""
    words = split_words(line)
    prefix = 2 if ups is not None else 1
    if len(words) < prefix or words[0] != kind or (ups is not None and words[1] != ups):
        raise ProtocolError(f"unexpected line in LIST {kind}: {line[:120]!r}")
    return words[prefix:]


def parse_vars(lines: list[str], ups: str) -> dict[str, str]:
    """``VAR <ups> <name> "<value>"`` lines into {name: value}."""
    out: dict[str, str] = {}
    for line in lines:
        fields = parse_list_item(line, "VAR", ups)
        if len(fields) != 2 or not fields[0]:
            raise ProtocolError(f"malformed VAR line: {line[:120]!r}")
        out[fields[0]] = fields[1]
    return out


def parse_ups_list(lines: list[str]) -> dict[str, str]:
    """``UPS <name> "<description>"`` lines into {name: description}.

    upsd sends the name unquoted, so a name with spaces (which NUT's own ups.conf parser
    cannot hold, but other servers may send) arrives as several words before the quoted
    description: they are joined back, and ``nut_client.check_name`` refuses to use it."""
    out: dict[str, str] = {}
    for line in lines:
        fields = parse_list_item(line, "UPS", None)
        if not fields or not fields[0]:
            raise ProtocolError(f"malformed UPS line: {line[:120]!r}")
        if len(fields) > 2:
            fields = [" ".join(fields[:-1]), fields[-1]]
        out[fields[0]] = fields[1] if len(fields) > 1 else ""
    return out


def parse_clients(lines: list[str], ups: str) -> list[str]:
    """``CLIENT <ups> <address>`` lines (upsmon instances logged into this UPS)."""
    out = []
    for line in lines:
        fields = parse_list_item(line, "CLIENT", ups)
        if fields:
            out.append(fields[0])
    return out
