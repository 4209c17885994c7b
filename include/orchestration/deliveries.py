"""What a run has to load: new deliveries, or the billing periods a backfill asked for.

Every look at an export logs what its folder holds and, per billing period, the version found,
the version loaded and the decision, so a run that loads nothing says why. Nothing that goes
wrong surveying one export raises, so it holds back no other: what discovery refuses (a billing
period's manifest, or the export's folder on a deterministic error such as access denied, see
`include.failures`) is planned as a refusal and recorded in the ledger, once per error; an export
that could not be surveyed this time (the network, S3 throttling, anything not known to be
deterministic) is planned as such and not recorded: the next run looks at it again. The run loads
what it can and fails at its end naming each (`refusal_report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from include.failures import Failure, LedgerBusy, classify
from include.orchestration.config import BILLING_PERIODS_PARAM
from include.orchestration.loading import record_refusals
from include.periods import parse_month
from include.providers.contract import Provider
from include.providers.deliveries import Delivery, DeliveryError, Discovery, ExportConfig, Refusal, Skip
from include.warehouse.ledger import ERROR_CHARS, latest_errors, loaded_versions

log = logging.getLogger(__name__)


def requested_periods(context) -> list[date]:
    """Billing periods this run must reload: a backfill's partition, or the trigger form's Param.

    Empty for scheduled runs, which load whatever is new.
    """
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)  # an enum in the Task SDK
    partition_key = getattr(dag_run, "partition_key", None)
    if partition_key and run_type == "backfill":
        return [parse_month(partition_key)]
    params = context.get("params") or {}
    return sorted({parse_month(period) for period in params.get(BILLING_PERIODS_PARAM) or []})


@dataclass
class DeliveryPlan:
    """One export: what discovery found, what this run loads, every skip with its reason, what it refuses."""

    discovery: Discovery
    to_load: list[Delivery] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # one line per billing period
    survey_error: Exception | None = None  # why the folder could not be surveyed this time (not a refusal)

    @property
    def survey_failure(self) -> Failure | None:
        return None if self.survey_error is None else classify(self.survey_error)

    @property
    def not_surveyed(self) -> str | None:
        """What the run reports for an export it could not survey, or None."""
        if self.survey_error is None:
            return None
        return (
            f"export {self.discovery.export.name} not surveyed ({self.survey_failure.value} error): "
            f"{type(self.survey_error).__name__}: {self.survey_error}; not refused: the next run looks at it again"
        )

    def report(self) -> str:
        export = self.discovery.export
        lines = [f"export {export.name} ({export.format}) at {self.discovery.folder}:"]
        if self.survey_error is not None:
            lines.append(f"  {self.not_surveyed}")
        if self.discovery.empty:
            lines.append(f"  nothing delivered: {self.discovery.empty}")
        lines += [f"  seen: {line}" for line in self.discovery.seen]
        lines += [f"  {line}" for line in self.decisions]
        refused = f", {len(self.refused)} refused" if self.refused else ""
        lines.append(f"  → {len(self.to_load)} to load, {len(self.skipped)} skipped{refused}")
        return "\n".join(lines)


def plan_deliveries(provider: Provider, export: ExportConfig, warehouse, periods: list[date]) -> DeliveryPlan:
    """Deliveries of `periods` when given (forced reload), else those whose version is not in the ledger.

    Logs the plan; a folder with nothing delivered yet (missing, empty, or only what the cloud creates before
    the first month) is a warning; what discovery refuses (of the periods asked for, when given) is an
    error and in `refused`; a folder that could not be surveyed has `survey_error` (an error, a warning
    when transient). Raises LedgerBusy when the ledger stays locked.
    """
    discovery, survey_error = _survey(provider, export)
    plan = DeliveryPlan(discovery=discovery, skipped=list(discovery.skipped), survey_error=survey_error)
    loaded = {} if periods else loaded_versions(warehouse, provider.name, export.name)
    if loaded is None:
        raise LedgerBusy(f"export {export.name}: the load ledger in {warehouse} stays locked by another writer")
    for skip in discovery.skipped:
        plan.decisions.append(str(skip))
    for delivery in discovery.deliveries:
        _decide(plan, delivery, periods, loaded)
    for refusal in discovery.refused:
        if not periods or refusal.billing_period in (None, *periods):
            plan.refused.append(refusal)
            period = f"{refusal.billing_period:%Y-%m} " if refusal.billing_period else ""
            plan.decisions.append(f"{period}→ refused: {refusal.error}")
    found = {d.billing_period for d in discovery.deliveries} | {r.billing_period for r in discovery.refused}
    for period in sorted(set(periods) - found):
        plan.decisions.append(f"{period:%Y-%m} requested, but {export.name} has no delivery of that month")
    plan.decisions.sort()
    if plan.refused or plan.survey_failure is Failure.UNKNOWN:
        level = logging.ERROR
    else:
        level = logging.WARNING if discovery.empty or survey_error else logging.INFO
    log.log(level, "%s", plan.report())
    return plan


def _survey(provider: Provider, export: ExportConfig) -> tuple[Discovery, Exception | None]:
    """What discovery finds; when it raises, a deterministic error (its folder holds no layout, access
    denied) refuses the export's folder as a whole, and any other is returned, to be reported, not recorded."""
    root = provider.open_path(export.uri, export.conn_id)
    try:
        return provider.discover(root, export), None
    except Exception as err:
        discovery = Discovery(export=export, folder=str(root / export.name))
        if classify(err) is not Failure.DETERMINISTIC:
            return discovery, err
        reason = str(err) if isinstance(err, DeliveryError) else f"cannot survey it: {type(err).__name__}: {err}"
        discovery.refused.append(Refusal(export, None, discovery.folder, None, (), reason))
        return discovery, None


def _decide(plan: DeliveryPlan, delivery: Delivery, periods: list[date], loaded: dict[date, str]) -> None:
    line = f"{delivery.period_label} {delivery.layout} {delivery.delivery_uri}, version {delivery.version}"
    if periods:
        reason = None if delivery.billing_period in periods else "not among the billing periods this run reloads"
        load = " → load (reload requested)"
    else:
        loaded_version = loaded.get(delivery.billing_period)
        reason = "this version is already loaded" if loaded_version == delivery.version else None
        load = f" (loaded: {loaded_version or 'none'}) → load"
    if reason:
        plan.skipped.append(Skip(delivery.billing_period, delivery.delivery_uri, reason))
        plan.decisions.append(f"{line} → skip: {reason}")
    else:
        plan.to_load.append(delivery)
        plan.decisions.append(line + load)


@dataclass(frozen=True)
class Survey:
    """One run's look at all its exports."""

    to_load: list[Delivery]
    refused: list[str]  # every refusal, each in the ledger
    not_surveyed: list[str]  # the exports that could not be surveyed this time, and why (not in the ledger)


def survey_exports(provider: Provider, exports: list[ExportConfig], warehouse, periods: list[date]) -> Survey:
    """Plan every export (each logging its plan) and record in the ledger what discovery refused, unless
    the ledger says so already. Writes the warehouse: run it where the other writers wait."""
    plans = [plan_deliveries(provider, export, warehouse, periods) for export in exports]
    refusals = [refusal for plan in plans for refusal in plan.refused]
    record_refusals(warehouse, provider, _not_recorded_yet(warehouse, provider, refusals))
    return Survey(
        to_load=[delivery for plan in plans for delivery in plan.to_load],
        refused=[str(refusal) for refusal in refusals],
        not_surveyed=[plan.not_surveyed for plan in plans if plan.not_surveyed],
    )


def _not_recorded_yet(warehouse, provider: Provider, refusals: list[Refusal]) -> list[Refusal]:
    """The refusals whose delivery's newest failed ledger row says something else, or that have none: a
    manifest that stays broken is one row, not one more every run."""

    def key(refusal: Refusal) -> tuple:
        return refusal.export.name, refusal.billing_period, refusal.version

    recorded = latest_errors(warehouse, provider.name, [key(refusal) for refusal in refusals])
    return [refusal for refusal in refusals if recorded.get(key(refusal)) != str(refusal)[:ERROR_CHARS]]


def refusal_report(
    provider: Provider,
    warehouse,
    refused: list[str],
    not_surveyed: list[str],
    to_load: list[Delivery],
    loaded: list[dict],
    held_back: list[str] = (),
) -> str | None:
    """Why the run must fail, or None: what discovery refused (`refused`, in the ledger), every export it
    could not survey (`not_surveyed`), every delivery of `to_load` that `loaded` (the summaries of the
    loads that succeeded) lacks, with its error from the ledger, and the loaded months the models hold back
    (`held_back`)."""
    done = {(summary["export"], summary["billing_period"]) for summary in loaded}
    missing = [d for d in to_load if (d.export.name, d.period_label) not in done]
    errors = latest_errors(warehouse, provider.name, [(d.export.name, d.billing_period, d.version) for d in missing])
    lines = list(refused)
    for delivery in missing:
        error = errors.get((delivery.export.name, delivery.billing_period, delivery.version))
        reason = error or "no ledger row; the log of its load_billing_month task says why"
        lines.append(f"export {delivery.export.name} {delivery.period_label} not loaded: {reason}")
    counts = []
    if lines:
        counts.append(f"{len(lines)} {'delivery' if len(lines) == 1 else 'deliveries'} refused or not loaded")
    if not_surveyed:
        counts.append(f"{len(not_surveyed)} {'export' if len(not_surveyed) == 1 else 'exports'} not surveyed")
    if held_back:
        counts.append(f"{len(held_back)} loaded {'month' if len(held_back) == 1 else 'months'} held back from FOCUS")
    if not counts:
        return None
    return f"{', '.join(counts)} (earlier months keep their data):\n" + "\n".join(
        f"  - {line}" for line in lines + not_surveyed + list(held_back)
    )
