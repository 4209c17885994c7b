"""Azure as a provider (`include.providers.contract.Provider`): its exports, discovery, files, reader and sensor.

Imported by the DAG file at every parse, so what only a task needs (DuckDB, pyarrow, the Azure SDK) is
imported inside the methods.
"""

from __future__ import annotations

from include.azure import settings
from include.providers.deliveries import Delivery, Discovery


class AzureProvider:
    name = "azure"
    schema = "azure_exports"
    datasets = settings.AZURE_DATASETS
    exports_variable = settings.EXPORTS_VARIABLE
    export_type = settings.AzureExport
    remote_scheme = settings.REMOTE_SCHEME

    def parse_exports(self, text: str) -> list[settings.AzureExport]:
        return settings.parse_exports(text)

    def discover(self, root, export: settings.AzureExport) -> Discovery:
        from include.azure.manifests import discover

        return discover(root, export)

    def open_path(self, uri: str, conn_id: str):
        """An ObjectStoragePath; on Blob storage (abfs://) it carries the export's Airflow connection."""
        from include.storage import object_storage_path

        return object_storage_path(uri, conn_id, self.remote_scheme)

    def month_load(self, delivery: Delivery, files):
        """Reads the run's manifest again, for the rows it states per part."""
        from include.azure.readers import month_load

        return month_load(delivery, files, self.open_path(delivery.delivery_uri, delivery.export.conn_id))

    def remote_sensor(self):
        from include.azure.sensor import BlobDeliverySensor

        return BlobDeliverySensor


AZURE = AzureProvider()
