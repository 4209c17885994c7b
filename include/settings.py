"""Configuration of billing sources and the warehouse, as plain values.

Nothing here imports Airflow: `include.orchestration.config` reads the Airflow Variables and
hands their raw text to the parsers below, so tests can build the same objects directly. Settings
made by environment variables are read here too. A value that cannot be used is a ConfigError.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE_PATH = PROJECT_ROOT / "data" / "finops.duckdb"
DEFAULT_SERVING_PATH = PROJECT_ROOT / "data" / "serving"

# Each export format and its dataset id: the one name of its rows in the ledger (finops_meta.exports),
# the source view dbt reads (sources_aws.<dataset id>), the mart's x_Dataset and the serving preference.
AWS_DATASETS = {"cur1": "aws_cur1", "cur2": "aws_cur2", "focus1.0": "aws_focus_1_0", "focus1.2": "aws_focus_1_2"}
AWS_FORMATS = tuple(AWS_DATASETS)
_EXPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # with fullmatch: `^…$` and match let "cur\n" through
# How long a superseded serving version stays readable (include/serving/publish.py): longer than any query.
SERVING_GRACE_VARIABLE = "FINOPS_SERVING_GRACE_SECONDS"
DEFAULT_SERVING_GRACE_S = 600.0


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class ExportConfig:
    """One billing export: where its files are read and what the manifests call that place.

    `uri` is where the pipeline reads (`s3://bucket/prefix` or `file:///local/mirror`), the folder
    that holds the `<name>/` export folder. `s3_uri` is the S3 location the manifests refer to;
    it defaults to `uri` and is required for a `file://` mirror, so data files listed outside it
    can be refused.
    """

    name: str
    uri: str
    format: str
    s3_uri: str
    conn_id: str = "aws_default"

    @property
    def scheme(self) -> str:
        return urlsplit(self.uri).scheme

    @property
    def table_stem(self) -> str:
        return self.name.replace("-", "_").lower()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> ExportConfig:
        return cls(**raw)


def parse_aws_exports(text: str) -> list[ExportConfig]:
    """Parse the `finops_aws_exports` Variable: a JSON list of export objects."""
    try:
        entries = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as err:
        raise ConfigError(f"finops_aws_exports is not valid JSON: {err}") from err
    if not isinstance(entries, list):
        raise ConfigError("finops_aws_exports must be a JSON list of export objects")
    exports = [_parse_export(entry, position) for position, entry in enumerate(entries)]
    names = [export.name for export in exports]
    if len(set(names)) != len(names):
        raise ConfigError(f"finops_aws_exports has duplicate export names: {names}")
    return exports


def _parse_export(entry: object, position: int) -> ExportConfig:
    where = f"finops_aws_exports[{position}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object with name, uri and format")
    unknown = set(entry) - {"name", "uri", "format", "s3_uri", "conn_id"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    name, uri, fmt = entry.get("name"), entry.get("uri", ""), entry.get("format")
    if not isinstance(name, str) or not _EXPORT_NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must be the export/report name (letters, digits, - and _)")
    if fmt not in AWS_FORMATS:
        raise ConfigError(f"{where} ({name}): format {fmt!r} must be one of {AWS_FORMATS}")
    scheme = urlsplit(uri).scheme
    if scheme not in ("s3", "file"):
        raise ConfigError(f"{where} ({name}): uri {uri!r} must start with s3:// or file://")
    s3_uri = entry.get("s3_uri") or (uri if scheme == "s3" else None)
    if not s3_uri or urlsplit(s3_uri).scheme != "s3":
        raise ConfigError(f"{where} ({name}): a file:// mirror needs s3_uri, the s3://bucket/prefix it mirrors")
    return ExportConfig(
        name=name,
        uri=uri.rstrip("/"),
        format=fmt,
        s3_uri=s3_uri.rstrip("/"),
        conn_id=entry.get("conn_id") or "aws_default",
    )


def resolve_warehouse_path(configured: str | None) -> Path:
    """The DuckDB file: the configured path (relative to the project root) or the default."""
    return _resolve_project_path(configured, DEFAULT_WAREHOUSE_PATH)


def resolve_serving_path(configured: str | None) -> Path:
    """The folder dashboards read (Parquet files): the configured path or the default."""
    return _resolve_project_path(configured, DEFAULT_SERVING_PATH)


def _resolve_project_path(configured: str | None, default: Path) -> Path:
    if not configured:
        return default
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_ROOT / path


def serving_grace_s() -> float:
    """`FINOPS_SERVING_GRACE_SECONDS` from the environment: seconds, 0 or more (unset or empty: the default)."""
    raw = os.environ.get(SERVING_GRACE_VARIABLE, "")
    if not raw.strip():
        return DEFAULT_SERVING_GRACE_S
    try:
        grace = float(raw)
    except ValueError:
        grace = math.nan
    if not (math.isfinite(grace) and grace >= 0):
        raise ConfigError(f"{SERVING_GRACE_VARIABLE}={raw!r} must be a number of seconds, 0 or more")
    return grace
