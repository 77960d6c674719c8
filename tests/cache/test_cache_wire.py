"""The asyncio lookup on one node (``AsyncRedis.exchange`` and ``redis_wire``): the
replies parsed in one pass from the bytes read, on redis-py's connections kept per loop;
a connection that may be out of step with the server (an error, a timeout, a cancelled
lookup) is never used again, and a HIT whose lookup failed renders (fail-open)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.cache import client_for, redis_of, tile_url
from titiler_eopf.cache.backends.redis_wire import (
    ProtocolError,
    ReplyError,
    command,
    packed_args,
    read_replies,
)
from titiler_eopf.cache.circuit import CacheError


def parsed(pieces: list[bytes], count: int) -> list:
    """``read_replies`` of a stream that hands the bytes over in these pieces, one per
    read (each only once the previous one was read)."""

    async def run():
        reader = asyncio.StreamReader()
        reading = asyncio.ensure_future(read_replies(reader, count))
        for piece in pieces:
            await asyncio.sleep(0)
            reader.feed_data(piece)
        await asyncio.sleep(0)
        reader.feed_eof()
        return await reading

    return asyncio.run(run())


def test_commands_are_resp_arrays_of_bulk_strings():
    assert command("GET", "k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    tail = packed_args(("a", b"\xff\r\n"))
    assert command("HMGET", "h", tail=tail, tail_count=2) == (
        b"*4\r\n$5\r\nHMGET\r\n$1\r\nh\r\n$1\r\na\r\n$3\r\n\xff\r\n\r\n"
    )


REPLIES = (
    b"*4\r\n$1\r\n7\r\n$-1\r\n_\r\n$0\r\n\r\n"  # MGET: a value, RESP2 and RESP3 nulls, ""
    b">2\r\n$6\r\nMOVING\r\n:1\r\n"  # a RESP3 push message: no reply, skipped
    b"*3\r\n$6\r\nstatus\r\n:42\r\n$12\r\nbody\r\n\r\nbody\r\n"  # a body holding CRLFs
)
PARSED = [[b"7", None, None, b""], [b"status", 42, b"body\r\n\r\nbody"]]


@pytest.mark.parametrize("piece", [1, 3, 7, len(REPLIES)])
def test_replies_split_anywhere_parse_the_same(piece):
    pieces = [REPLIES[i : i + piece] for i in range(0, len(REPLIES), piece)]
    assert parsed(pieces, 2) == PARSED


def test_an_error_reply_raises_once_every_reply_is_read():
    pieces = [b"-WRONGTYPE Operation against a key\r\n", b"*1\r\n$1\r\nx\r\n"]
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        parsed(pieces, 2)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"*2\r\n$1\r\nx\r\n", ConnectionError),  # closed inside a reply
        (b"$1\r\nx\r\n$1\r\ny\r\n", ProtocolError),  # more than the replies asked for
        (b"?1\r\n", ProtocolError),  # no RESP reply
    ],
)
def test_a_reply_cut_short_or_not_resp_raises(data, error):
    with pytest.raises(error):
        parsed([data], 1)


@pytest.fixture
def aio(cache_for):
    return cache_for("redis").backend.aio


def test_an_exchange_reads_a_large_value_over_many_reads(aio, redis_client):
    big = bytes(range(256)) * 4096 + b"\r\n"  # 1 MiB and more: several reads
    redis_client.set("big", big)
    redis_client.set("small", b"s")

    async def run():
        return await aio.exchange(command("GET", "big") + command("GET", "small"), 2)

    assert asyncio.run(run()) == [big, b"s"]


def connections(redis_client) -> int:
    return int(redis_client.info("clients")["connected_clients"])


def test_one_connection_serves_the_exchanges_of_a_loop(aio, redis_client):
    redis_client.set("k", b"v")
    before = connections(redis_client)

    async def run():
        return [await aio.exchange(command("GET", "k"), 1) for _ in range(20)]

    assert asyncio.run(run()) == [[b"v"]] * 20
    assert connections(redis_client) == before + 1


def test_an_error_reply_drops_its_connection_and_counts_for_the_breaker(aio, redis_client):
    redis_client.set("s", b"v")
    redis_client.hset("h", "f", b"x")

    async def run():
        with pytest.raises(CacheError, match="WRONGTYPE"):
            await aio.exchange(command("HGET", "s", "f"), 1)
        assert aio.conn.breaker._failures == 1
        # a new connection, in step: the next replies are its own
        return await aio.exchange(command("HGET", "h", "f") + command("GET", "s"), 2)

    assert asyncio.run(run()) == [b"x", b"v"]
    assert aio.conn.breaker._failures == 0


@pytest.mark.parametrize("how", ["cancelled", "timed out"])
def test_a_lookup_stopped_while_waiting_never_leaves_its_reply_to_the_next(
    cache_for, redis_client, how
):
    """A lookup stopped while its reply is awaited (here a BLPOP the server answers only
    once the list gets a value): its connection is closed, so a late reply can never be
    read as the answer to the next lookup."""
    aio = cache_for("redis", redis_read_timeout=0.3).backend.aio
    redis_client.set("b", b"B")

    async def run():
        await aio.exchange(command("GET", "b"), 1)  # the loop's connection, made
        first = asyncio.ensure_future(aio.exchange(command("BLPOP", "q", "0"), 1))
        if how == "cancelled":
            await asyncio.sleep(0)  # the request is written; its reply is awaited
            assert not first.done()
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
        else:
            with pytest.raises(CacheError, match="TimeoutError"):
                await first
        redis_client.rpush("q", b"late")  # the reply the stopped lookup waited for
        return await aio.exchange(command("GET", "b"), 1)

    assert asyncio.run(run()) == [b"B"]


def test_a_connection_the_server_closed_while_idle_is_replaced(aio, redis_client):
    redis_client.set("k", b"v")

    async def run():
        assert await aio.exchange(command("GET", "k"), 1) == [b"v"]
        redis_client.client_kill_filter(_type="normal", skipme=True)
        # the loop sees the close (EOF) before the next lookup takes the connection
        for _ in range(100):
            await asyncio.sleep(0.01)
            if all(c._reader.at_eof() for c in aio._spare[asyncio.get_running_loop()]):
                break
        return await aio.exchange(command("GET", "k"), 1)

    assert asyncio.run(run()) == [b"v"]


def test_a_hit_whose_record_cannot_be_read_fails_open_then_heals(cache_for, redis_client):
    """A record that is no hash (WRONGTYPE): the HIT's lookup fails, the tile is rendered
    (ERROR), and once the key is gone the next lookups are in step again."""
    cache = cache_for("redis")
    with client_for(cache) as client:
        url = tile_url(z=7, x=6, y=3)
        first = client.get(url)
        assert first.headers["x-cache"] == "MISS"
        key = cache.key_for_url(url)
        node, layout = redis_of(cache)
        node.delete(layout.entry(key.id))
        node.set(layout.entry(key.id), b"not a hash")
        failed = client.get(url)
        assert failed.headers["x-cache"] == "ERROR" and failed.content == first.content
        node.delete(layout.entry(key.id))
        assert [client.get(url).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
        assert client.get(url).content == first.content
