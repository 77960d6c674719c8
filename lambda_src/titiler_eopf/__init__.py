"""TiTiler-EOPF: tiles of ESA EOPF Zarr products, with a tile cache, on AWS Lambda."""

__version__ = "0.1.0"
