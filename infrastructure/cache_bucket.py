"""S3 bucket holding the cache's bodies (tiles under ``<prefix>tile/``, the others under
``<prefix>meta/``) and, with the S3-only cache backend, the products' shared metadata
(``<prefix>blob/``; s3_redis keeps those in Redis).

Lifecycle expiration is a garbage collector (whole days, applied once a day), not the
TTL: the cache enforces per-entry TTLs itself (a blob's expiry rides in its metadata).
Tile bodies expire after the tile TTL rounded up to whole days; the other kinds and the
blobs (written for the metadata TTL) after the longest of the metadata and preview TTLs;
incomplete multipart uploads are aborted after a day.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


@dataclass(frozen=True)
class CacheBucketProps:
    prefix: str = "cache/"
    tile_expiration_days: int = 1
    meta_expiration_days: int = 1
    retain: bool = False


class CacheBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: CacheBucketProps) -> None:
        super().__init__(scope, construct_id)
        self.prefix = props.prefix
        self.tile_prefix = f"{props.prefix}tile/"
        self.meta_prefix = f"{props.prefix}meta/"
        self.blob_prefix = f"{props.prefix}blob/"
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireTiles",
                    prefix=self.tile_prefix,
                    expiration=Duration.days(props.tile_expiration_days),
                ),
                s3.LifecycleRule(
                    id="ExpireMetadata",
                    prefix=self.meta_prefix,
                    expiration=Duration.days(props.meta_expiration_days),
                ),
                s3.LifecycleRule(
                    id="ExpireBlobs",
                    prefix=self.blob_prefix,
                    expiration=Duration.days(props.meta_expiration_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteMultipartUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY,
            # Without it a non-empty bucket blocks stack deletion on non-prod stages.
            auto_delete_objects=not props.retain,
        )

    def objects_arn(self, pattern: str = "*") -> str:
        """ARN of the objects under the cache prefix (``arn:...:bucket/cache/*``)."""
        return self.bucket.arn_for_objects(f"{self.prefix}{pattern}")
