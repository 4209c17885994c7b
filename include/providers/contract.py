"""The contract a cloud implements to join the pipeline: one object, satisfying `Provider`.

A cloud is a package `include/<provider>/` (AWS: `include/aws/`, its object `include.aws.provider.AWS`).
It knows its exports and nothing after them; everything else is shared and takes the object as an argument:

    parse_exports   its Airflow Variable (`exports_variable`, JSON) → its exports (`export_type`)
    discover        one export's folder → deliveries (billing period, version, listed files), skips,
                    refusals and what it saw (`include.providers.deliveries.Discovery`), reading only
    open_path       a URI discovery returned → a pathlib-like object to read it by (an Airflow connection)
    month_load      a delivery's files, fetched locally → the checks and SQL that load its month (`MonthLoad`)
    remote_sensor   the sensor that waits for a delivery on its remote scheme (`remote_scheme`)

The shared code around it: `include.orchestration.deliveries` decides what is new against the ledger
and records refusals, `include.orchestration.loading` fetches the listed files and swaps the month
in (`include.warehouse.loader`), `include.orchestration.billing_dag` builds the DAG (the file://
sensor, the dbt group, validation, publishing, Metabase). A Protocol rather than a base class: the
provider is checked for its members (`isinstance(AWS, Provider)` in the tests), it inherits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # the loader brings in DuckDB and Airflow's sensors are heavy: not at DAG parse
    from airflow.sdk import BaseSensorOperator

    from include.providers.deliveries import Delivery, Discovery, ExportConfig
    from include.warehouse.loader import LocalFile, MonthLoad


@runtime_checkable
class Provider(Protocol):
    name: str  # e.g. "aws": the ledger's `provider`, the DAG `<name>_billing`, the asset `<name>_billing_months`
    schema: str  # the warehouse schema of its month tables, e.g. "aws_cur"
    datasets: Mapping[str, str]  # export format → dataset id (the ledger's `dataset`, view sources_<name>.<id>)
    exports_variable: str  # the Airflow Variable listing its exports, e.g. "finops_aws_exports"
    export_type: type[ExportConfig]  # its export settings (ExportConfig and its own fields)
    remote_scheme: str  # the URI scheme its exports are delivered to, e.g. "s3" (file:// is shared)

    def parse_exports(self, text: str) -> list[ExportConfig]:
        """The Variable's raw JSON → its exports; a ConfigError naming the entry and the problem."""
        ...

    def discover(self, root: Any, export: ExportConfig) -> Discovery:
        """Survey `root` (the export's `uri`, pathlib-like) without writing anything; raise only when the
        folder as a whole cannot be surveyed (a DeliveryError when it holds no layout of the format)."""
        ...

    def open_path(self, uri: str, conn_id: str) -> Any:
        """A pathlib-like object (ObjectStoragePath) for an export's or a listed file's URI."""
        ...

    def month_load(self, delivery: Delivery, files: list[LocalFile]) -> MonthLoad:
        """How the loader reads and checks the delivery's files (fetched locally, in listed order);
        LoadRefused when they cannot be read as its format."""
        ...

    def remote_sensor(self) -> type[BaseSensorOperator]:
        """The sensor class for one export on `remote_scheme`: built as `Sensor(export=<export dict>, **kwargs)`,
        it fires when `include.orchestration.sensors.has_work` says so."""
        ...
