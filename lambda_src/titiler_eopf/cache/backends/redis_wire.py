"""The HIT's commands as bytes and their replies parsed in one pass, for the asyncio
lookup on one node (``AsyncRedis.exchange``).

redis-py's asyncio pipeline packs every argument of every command on each call and
parses a reply one element at a time, awaiting the stream for each; for a HIT (a
MGET of four generations and a HMGET of a dozen fields and the body) that costs
more than the round trip itself. Here the constant part of a command (the field
names) is packed once, the request is written in one go, and the replies are
parsed from the bytes read so far, reading more only when they are incomplete.

RESP2 and RESP3 replies alike (the connection speaks what redis-py negotiated):
bulk strings as bytes, nulls (``$-1``, ``*-1``, ``_``) as None, integers, simple
strings; an error reply raises ``ReplyError`` once all replies are read. A RESP3
push message (``>``: e.g. a maintenance notification) is no reply: it is skipped.
"""

from __future__ import annotations

import asyncio

CRLF = b"\r\n"
READ_SIZE = 1 << 18


class ReplyError(Exception):
    """The server answered a command with an error (``-ERR ...``)."""


class ProtocolError(Exception):
    """Bytes that are no RESP reply: the connection is not to be used again."""


def packed_args(args) -> bytes:
    """Arguments (str or bytes) as RESP bulk strings, to be put after a command's header."""
    out = []
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def command(*args, tail: bytes = b"", tail_count: int = 0) -> bytes:
    """One command: ``args`` packed now, then ``tail_count`` arguments already packed."""
    return b"*%d\r\n%b%b" % (len(args) + tail_count, packed_args(args), tail)


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more."""


def _parse(buf: bytes, pos: int):
    """One reply from ``buf`` at ``pos``: ``(value, position after it)``."""
    end = buf.find(CRLF, pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos : pos + 1], buf[pos + 1 : end], end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return buf[pos : pos + size], pos + size + 2
    if kind == b"*" or kind == b">":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            value, pos = _parse(buf, pos)
            items.append(value)
        return items, pos
    if kind == b"_":
        return None, pos
    if kind == b":":
        return int(line), pos
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return ReplyError(line.decode("utf-8", "replace")), pos
    raise ProtocolError(f"unexpected reply type {kind!r}")


async def read_replies(reader: asyncio.StreamReader, count: int) -> list:
    """``count`` replies from ``reader`` (the connection stays in step: nothing of
    them is left unread; an error reply raises after all of them are read)."""
    buf = b""
    while True:
        chunk = await reader.read(READ_SIZE)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        buf += chunk
        try:
            replies, pos = [], 0
            while len(replies) < count:
                push = buf.startswith(b">", pos)
                value, pos = _parse(buf, pos)
                if not push:
                    replies.append(value)
        except _Incomplete:
            continue
        if pos != len(buf):
            raise ProtocolError("bytes after the last reply")
        for value in replies:
            if isinstance(value, ReplyError):
                raise value
        return replies
