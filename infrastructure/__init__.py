"""CDK infrastructure of TiTiler-EOPF on AWS Lambda (one module per concern; see stack.py)."""
