"""Azure's export settings: the Variable `finops_azure_exports` parsed into exports, and each format's dataset id.

Plain values, no Airflow: `include.orchestration.config` reads the Variable and hands its text here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from include.providers.deliveries import ExportConfig, parse_export_list
from include.settings import ConfigError

EXPORTS_VARIABLE = "finops_azure_exports"
DEFAULT_CONN_ID = "azure_default"
# Each export format and its dataset id: the ledger's `dataset` of its loads, the source view dbt reads
# (sources_azure.<dataset id>), the mart's x_Dataset, and its row in dbt/seeds/datasets.csv (the serving rank).
AZURE_DATASETS = {
    "actual": "azure_actual",
    "amortized": "azure_amortized",
    "focus1.0": "azure_focus_1_0",
    "focus1.2": "azure_focus_1_2",
}
AZURE_FORMATS = tuple(AZURE_DATASETS)
# What a run's manifest says it holds (exportConfig.type, and dataVersion where the format pins it), per format.
MANIFEST_TYPES = {
    "actual": "ActualCost",
    "amortized": "AmortizedCost",
    "focus1.0": "FocusCost",
    "focus1.2": "FocusCost",
}
MANIFEST_DATA_VERSIONS = {"focus1.0": ("1.0", "1.0r2"), "focus1.2": ("1.2-preview", "1.2")}
REMOTE_SCHEME = "abfs"
_KEYS = {"name", "uri", "format", "conn_id"}


@dataclass(frozen=True, kw_only=True)
class AzureExport(ExportConfig):
    """A Cost Management export. `uri` is the folder that holds its `<name>/` folder: `abfs://<container>/<root
    folder path>` (the storage account comes from the connection), or `file:///<mirror>/<root folder path>` for a
    local copy of the container."""

    conn_id: str = DEFAULT_CONN_ID

    @property
    def root_folder_path(self) -> str | None:
        """The export's root folder path inside its container ('' at the top), as its manifests' blob names
        start; None for a file:// mirror, where the container's own folder is not told by the uri."""
        if self.scheme != REMOTE_SCHEME:
            return None
        return urlsplit(self.uri).path.strip("/")


def parse_exports(text: str) -> list[AzureExport]:
    """Parse the `finops_azure_exports` Variable: a JSON list of export objects."""
    return parse_export_list(text, EXPORTS_VARIABLE, _KEYS, AZURE_FORMATS, _build_export)


def _build_export(entry: dict, *, where: str, name: str, fmt: str) -> AzureExport:
    uri = entry.get("uri", "")
    if not isinstance(uri, str):
        raise ConfigError(f"{where} ({name}): uri must be a string")
    parts = urlsplit(uri)
    if parts.scheme not in (REMOTE_SCHEME, "file"):
        raise ConfigError(
            f"{where} ({name}): uri {uri!r} must be abfs://<container>/<root folder path> or file:///<mirror>"
        )
    if parts.scheme == REMOTE_SCHEME and (not parts.netloc or "@" in parts.netloc):
        # ObjectStoragePath puts the connection id where abfs's own URIs name the account (container@account).
        raise ConfigError(
            f"{where} ({name}): uri {uri!r} must name the container only (abfs://<container>/<root folder path>); "
            "the storage account comes from the connection"
        )
    conn_id = entry.get("conn_id") or DEFAULT_CONN_ID
    if not isinstance(conn_id, str):
        raise ConfigError(f"{where} ({name}): conn_id must be a string")
    return AzureExport(name=name, uri=uri.rstrip("/"), format=fmt, conn_id=conn_id)
