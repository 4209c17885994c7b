"""A delivery as every cloud has one, whatever its export looks like.

An export is configured (`ExportConfig`: a provider adds its own fields in a subclass); surveying
its folder (`Provider.discover`) finds the latest delivery of each billing period — a version and
exactly the data files it lists — and says what it skipped and what it refused. Refused means the
delivery cannot be used as delivered (a broken manifest, a file listed twice or outside its billing
period's folders): it is recorded in the ledger and reported, never retried. These types are plain
values that survive XCom (`to_dict` / `from_dict`); nothing here imports Airflow or reads a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit

from include.periods import month_label, parse_month
from include.settings import ConfigError

Export = TypeVar("Export", bound="ExportConfig")
EXPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # with fullmatch: `^…$` and match let "cur\n" through


class DeliveryError(ValueError):
    """A manifest, data file or export folder cannot be used; the message names it and the problem."""


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """One billing export: its name, the folder that holds it (`uri`), its format and the Airflow connection
    that reads it. A provider subclasses it for settings of its own (AWS: the `s3_uri` its manifests name)."""

    name: str  # the export's name as the cloud spells it in its folders
    uri: str  # where the pipeline reads: the provider's remote scheme, or file:// for a local mirror
    format: str  # one of the provider's formats (`Provider.datasets`)
    conn_id: str  # the Airflow connection for a remote uri

    @property
    def scheme(self) -> str:
        return urlsplit(self.uri).scheme

    @property
    def table_stem(self) -> str:
        """The export's month tables are `<table_stem>_<YYYY>_<MM>`, its view `<table_stem>`."""
        return self.name.replace("-", "_").lower()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[Export], raw: dict) -> Export:
        return cls(**raw)


def parse_export_list[E: ExportConfig](
    text: str, variable: str, keys: Collection[str], formats: Collection[str], build: Callable[..., E]
) -> list[E]:
    """A provider's exports Variable (`variable`, a JSON list of objects) → its exports, names unique. Each entry is
    checked for what every provider asks (an object of `keys` only, a name, one of `formats`), then made by
    `build(entry, where=…, name=…, fmt=…)`, which checks the rest; a ConfigError names the entry and the problem."""
    try:
        entries = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as err:
        raise ConfigError(f"{variable} is not valid JSON: {err}") from err
    if not isinstance(entries, list):
        raise ConfigError(f"{variable} must be a JSON list of export objects")
    exports = []
    for position, entry in enumerate(entries):
        where = f"{variable}[{position}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object with name, uri and format")
        unknown = set(entry) - set(keys)
        if unknown:
            raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
        name, fmt = entry.get("name"), entry.get("format")
        if not isinstance(name, str) or not EXPORT_NAME.fullmatch(name):
            raise ConfigError(f"{where}: name {name!r} must be the export's name (letters, digits, - and _)")
        if fmt not in formats:
            raise ConfigError(f"{where} ({name}): format {fmt!r} must be one of {tuple(formats)}")
        exports.append(build(entry, where=where, name=name, fmt=fmt))
    names = [export.name for export in exports]
    if len(set(names)) != len(names):
        raise ConfigError(f"{variable} has duplicate export names: {names}")
    return exports


@dataclass(frozen=True)
class DataFile:
    """A listed data file: the URI the delivery lists it by (recorded per row) and the URI the pipeline reads."""

    listed_uri: str
    read_uri: str


@dataclass(frozen=True)
class Delivery:
    """One billing period's latest delivery of an export: its version and exactly the data files it lists."""

    export: ExportConfig
    billing_period: date  # the first day of the billing month
    delivery_uri: str  # what it was read from: the manifest, or the folder listed when there is none
    version: str  # the cloud's id of this delivery, or what stands for one (see the provider's discovery)
    data_files: tuple[DataFile, ...]  # none: the export restated the month to nothing
    # (column name as delivered, declared type or None), in the delivery's order; empty when it declares none.
    columns: tuple[tuple[str, str | None], ...]
    layout: str  # how it was found, in the provider's words (for the run's log)

    @property
    def period_label(self) -> str:
        return month_label(self.billing_period)

    def to_dict(self) -> dict:
        return {
            "export": self.export.to_dict(),
            "billing_period": self.period_label,
            "delivery_uri": self.delivery_uri,
            "version": self.version,
            "data_files": [[f.listed_uri, f.read_uri] for f in self.data_files],
            "columns": [list(c) for c in self.columns],
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, raw: dict, export_type: type[ExportConfig]) -> Delivery:
        """`export_type`: the provider's export settings class (`Provider.export_type`)."""
        return cls(
            export=export_type.from_dict(raw["export"]),
            billing_period=parse_month(raw["billing_period"]),
            delivery_uri=raw["delivery_uri"],
            version=raw["version"],
            data_files=tuple(DataFile(*pair) for pair in raw["data_files"]),
            columns=tuple((name, kind) for name, kind in raw["columns"]),
            layout=raw["layout"],
        )


@dataclass(frozen=True)
class Refusal:
    """A delivery discovery refused, and why; with no billing period, the export's folder as a whole."""

    export: ExportConfig
    billing_period: date | None
    where: str  # the manifest, or the export's folder
    version: str | None  # None when no manifest could be read
    files: tuple[str, ...]  # as the manifest lists them, as far as it could be read
    error: str

    def __str__(self) -> str:
        period = month_label(self.billing_period) if self.billing_period else "(the export's folder)"
        return f"export {self.export.name} {period} refused: {self.error}"


@dataclass(frozen=True)
class Skip:
    """Something seen in an export's folder that is not loaded, and why."""

    billing_period: date | None
    where: str
    reason: str

    def __str__(self) -> str:
        period = f"{month_label(self.billing_period)} " if self.billing_period else ""
        return f"{period}skipped {self.where}: {self.reason}"


@dataclass
class Discovery:
    """What one export's folder holds: the latest delivery of each billing period, and the rest."""

    export: ExportConfig
    folder: str
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # what the folder holds, for the run's log
    # set when nothing was delivered yet: the folder is missing or empty, or holds only what the cloud creates first
    empty: str | None = None

    def add(self, found: Delivery | Skip | Refusal) -> None:
        {Delivery: self.deliveries, Skip: self.skipped, Refusal: self.refused}[type(found)].append(found)
