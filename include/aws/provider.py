"""AWS as a provider (`include.providers.contract.Provider`): its exports, discovery, files, reader and sensor.

Imported by the DAG file at every parse, so what only a task needs (DuckDB, pyarrow, boto3) is imported
inside the methods.
"""

from __future__ import annotations

from include.aws import settings
from include.providers.deliveries import Delivery, Discovery


class AwsProvider:
    name = "aws"
    schema = "aws_cur"
    datasets = settings.AWS_DATASETS
    exports_variable = settings.EXPORTS_VARIABLE
    export_type = settings.AwsExport
    remote_scheme = "s3"

    def parse_exports(self, text: str) -> list[settings.AwsExport]:
        return settings.parse_exports(text)

    def discover(self, root, export: settings.AwsExport) -> Discovery:
        from include.aws.manifests import discover

        return discover(root, export)

    def open_path(self, uri: str, conn_id: str):
        """An ObjectStoragePath; on S3 it carries the export's Airflow connection."""
        from include.storage import object_storage_path

        return object_storage_path(uri, conn_id, self.remote_scheme)

    def month_load(self, delivery: Delivery, files):
        from include.aws.readers import month_load

        return month_load(delivery, files)

    def remote_sensor(self):
        from include.aws.sensor import S3DeliverySensor

        return S3DeliverySensor


AWS = AwsProvider()
