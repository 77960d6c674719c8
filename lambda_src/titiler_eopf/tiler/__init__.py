"""The tiler room: reading EOPF products (store, catalog, product, reader) and the
titiler application that serves them (factory, app).

Nothing here imports the cache or the handlers. This package's ``__init__`` stays
empty of heavy imports so that ``titiler_eopf.tiler.settings`` can be read without
importing rasterio, xarray or zarr (the cache HIT path never imports them).
"""
