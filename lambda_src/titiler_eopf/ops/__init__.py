"""Operations: the ``titiler-eopf`` CLI and cache seeding (used by the admin Lambda too)."""
