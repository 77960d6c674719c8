"""The admin service: every admin action as a model, and one service that executes them.

Doors, one way: the HTTP routes (:mod:`.routes`), the admin Lambda (``handlers.admin``)
and the CLI (``ops``) call this package; it calls the cache's invalidation functions and
the seeder (:mod:`.seeder`, which requests tile URLs of the tile API). Neither the handlers
nor the CLI import each other.

* :mod:`.actions`: the request models (``status``, ``keys``, ``invalidate``, ``purge``,
  ``seed``) and the parser of an admin event;
* :mod:`.service`: :class:`AdminService`, and the Lambda's reply envelope;
* :mod:`.seeding`: one bounded slice of a seeding job (the Lambda's ``seed`` action);
* :mod:`.seeder`: the seeding job itself (standard library only);
* :mod:`.routes`: ``/admin/cache/*`` and ``/cache/status``.
"""
