"""Helpers of the test suite, imported as ``tests.support.<module>``.

servers: free ports, redis-server and moto processes, an S3 client; samples: the sample
products (written once per generator version); stacapi: the STAC API (PostgreSQL + pgstac);
cache and standin: cache settings on those servers and the stand-in app behind the cache;
harness and reliability: the app as a server process, load and a delaying proxy; events:
Lambda events; loopback: the loopback object store; tiler, mosaic, sweep, ops: requests and
decoders the packages of the same name share.
"""
