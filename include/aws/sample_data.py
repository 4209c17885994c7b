"""Deterministic, realistic AWS billing exports for demos, tests and benchmarks.

Writes legacy CUR (CSV.gz, CREATE_NEW_REPORT layout) and CUR 2.0 (Parquet, Data Exports layout)
with manifests, for any number of months and rows. Money is built as integers of 1e-8 USD, so
the billed (Σ unblended) and amortized totals of each month are exact by construction and are
returned alongside the files. Rows are produced in bounded batches: 10M rows never sit in memory.

Each month holds on-demand Usage over several accounts, services, regions and tags, plus one
partial-upfront reserved instance (DiscountedUsage + RIFee, upfront Fee in its purchase month),
one partial-upfront Compute Savings Plan (SavingsPlanCoveredUsage + SavingsPlanNegation +
SavingsPlanRecurringFee, SavingsPlanUpfrontFee in its purchase month), spot usage, a Marketplace
charge, a support Fee, EdpDiscount per account, a BundledDiscount and a PrivateRateDiscount, Tax
per account, Credits and a Refund (from the second month on, a Refund for the previous month).

It also has the quirks of real deliveries, so that the models are tested against them:
- two payer accounts in one export, each with its linked accounts and its own invoice;
- a month that is not invoiced yet (`invoiced=False`; `generate` leaves its last month open) has
  an empty `bill/InvoiceId`, as AWS leaves it until the invoice is issued;
- `pricing/RateId` names a price and is shared by the SKUs of every region charging it;
  `pricing/RateCode` (`<SKU>.<offer term>.<rate code>`) is one per SKU and price;
- data transfer between regions leaves `product/regionCode` empty and names the regions in
  `product/fromRegionCode`, `product/toRegionCode`, `product/fromLocation` (and `product/region`
  on half the rows); global services (Route 53) have `product/region` 'global'; tax, credits,
  refunds and EDP discounts have no region;
- pricing units as AWS spells them: `Hrs` and `hours`, `GB` and `GB-Mo`, `Requests` and `Request`,
  `IOs`, `Lambda-GB-Second`, `Count`, `Queries`, ...;
- a free-tier line per payer account (Usage, $0.00 per GB - first 100 GB free tier).
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from include.aws.columns import athena_column_name

SCALE = 10**8  # money is generated in integer units of 1e-8 USD
_UUID_NAMESPACE = uuid.UUID("6f1c3e64-5a0b-4c53-9a5e-0f7d1b2c9e11")
# Two payer (management) accounts in one export, each with its linked accounts.
PAYERS = {
    "111111111111": ["111111111111", "222222222222", "333333333333", "444444444444"],
    "555555555555": ["555555555555", "666666666666"],
}
PAYER_ACCOUNT = next(iter(PAYERS))  # the one whose manifests these are
ACCOUNTS = [account for linked in PAYERS.values() for account in linked]
PAYER_OF = {account: payer for payer, linked in PAYERS.items() for account in linked}
ACCOUNT_NAMES = {
    "111111111111": "acme-payer",
    "222222222222": "acme-prod",
    "333333333333": "acme-data",
    "444444444444": "acme-dev",
    "555555555555": "globex-payer",
    "666666666666": "globex-research",
}
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
# How AWS names each region in product/location and in usage-type prefixes.
REGION_LOCATIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
}
REGION_PREFIXES = {"us-east-1": "USE1", "us-west-2": "USW2", "eu-west-1": "EU", "ap-southeast-2": "APS2"}
# AWS offer term codes (the middle part of a RateCode): on demand, and 1 year partial upfront.
ON_DEMAND_TERM, RESERVED_TERM = "JRTCKXETXF", "HU7G6KETJZ"


class Service(NamedTuple):
    """One priced usage of one service; `scope` says where it happens.

    regional: in one region (product/regionCode); global: product/region 'global' and no region code;
    transfer: between two regions, `usage_type` is prefixed with both (USE1-USW2-AWS-Out-Bytes).
    """

    code: str
    name: str
    usage_type: str
    operation: str
    unit: str
    rate: str  # on-demand, USD per unit
    family: str
    resource_prefix: str
    scope: str = "regional"


SERVICES = [
    Service(
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "BoxUsage:m5.large",
        "RunInstances",
        "Hrs",
        "0.096",
        "Compute Instance",
        "i-",
    ),
    Service(
        "AmazonS3",
        "Amazon Simple Storage Service",
        "TimedStorage-ByteHrs",
        "StandardStorage",
        "GB-Mo",
        "0.023",
        "Storage",
        "bucket-",
    ),
    Service(
        "AmazonRDS",
        "Amazon Relational Database Service",
        "InstanceUsage:db.t3.medium",
        "CreateDBInstance:0002",
        "Hrs",
        "0.068",
        "Database Instance",
        "db-",
    ),
    Service("AWSLambda", "AWS Lambda", "Request", "Invoke", "Requests", "0.0000002", "Serverless", "fn-"),
    Service(
        "AmazonDynamoDB",
        "Amazon DynamoDB",
        "ReadCapacityUnit-Hrs",
        "CommittedThroughput",
        "ReadCapacityUnit-Hrs",
        "0.00013",
        "Provisioned IOPS",
        "table-",
    ),
    Service(
        "AmazonCloudWatch",
        "AmazonCloudWatch",
        "CW:MetricMonitorUsage",
        "MetricStorage",
        "Metrics",
        "0.30",
        "Metric",
        "metric-",
    ),
    Service(
        "AmazonVPC",
        "Amazon Virtual Private Cloud",
        "NatGateway-Hours",
        "NatGateway",
        "Hrs",
        "0.045",
        "NAT Gateway",
        "nat-",
    ),
    Service(
        "AmazonECS",
        "Amazon Elastic Container Service",
        "Fargate-vCPU-Hours:perCPU",
        "FargateTask",
        "hours",
        "0.04048",
        "Compute",
        "task-",
    ),
    Service(
        "AmazonSageMaker",
        "Amazon SageMaker",
        "ml.m5.xlarge-Notebook",
        "RunInstance:Notebook",
        "Hrs",
        "0.23",
        "ML Instance",
        "nb-",
    ),
    Service(
        "AWSDataTransfer", "AWS Data Transfer", "AWS-Out-Bytes", "", "GB", "0.02", "Data Transfer", "i-", "transfer"
    ),
    Service(
        "AWSLambda", "AWS Lambda", "Lambda-GB-Second", "Invoke", "Lambda-GB-Second", "0.00001667", "Serverless", "fn-"
    ),
    Service(
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "EBS:VolumeIOUsage",
        "EBS:IO",
        "IOs",
        "0.00000005",
        "System Operation",
        "vol-",
    ),
    Service(
        "AmazonS3",
        "Amazon Simple Storage Service",
        "Requests-Tier1",
        "PutObject",
        "Requests",
        "0.000005",
        "API Request",
        "bucket-",
    ),
    Service(
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "ElasticIP:Remap",
        "RemapAddress",
        "Count",
        "0.10",
        "IP Address",
        "eipalloc-",
    ),
    Service("awswaf", "AWS WAF", "Request", "", "Request", "0.0000006", "Web Application Firewall", "webacl-"),
    Service(
        "AmazonRoute53",
        "Amazon Route 53",
        "DNS-Queries",
        "A",
        "Queries",
        "0.0000004",
        "DNS Query",
        "hostedzone-",
        "global",
    ),
]
TAG_VALUES = {
    "resourceTags/user:Environment": ["prod", "staging", "dev", None],
    "resourceTags/user:Team": ["payments", "search", "platform", None, None],
    "resourceTags/user:CostCenter": ["CC-100", "CC-200", None],
    "resourceTags/aws:createdBy": ["IAMUser:alice", None, None, None],
}
LATE_TAG = "resourceTags/user:Project"  # activated from the second generated month on

# Legacy CUR columns and their manifest types; tag columns follow.
LEGACY_COLUMNS = [
    ("identity/LineItemId", "String"),
    ("identity/TimeInterval", "Interval"),
    ("bill/InvoiceId", "OptionalString"),
    ("bill/InvoicingEntity", "String"),
    ("bill/BillType", "String"),
    ("bill/BillingEntity", "String"),
    ("bill/PayerAccountId", "String"),
    ("bill/BillingPeriodStartDate", "DateTime"),
    ("bill/BillingPeriodEndDate", "DateTime"),
    ("lineItem/UsageAccountId", "String"),
    ("lineItem/LineItemType", "String"),
    ("lineItem/UsageStartDate", "DateTime"),
    ("lineItem/UsageEndDate", "DateTime"),
    ("lineItem/ProductCode", "String"),
    ("lineItem/UsageType", "OptionalString"),
    ("lineItem/Operation", "OptionalString"),
    ("lineItem/AvailabilityZone", "OptionalString"),
    ("lineItem/ResourceId", "OptionalString"),
    ("lineItem/UsageAmount", "OptionalBigDecimal"),
    ("lineItem/CurrencyCode", "String"),
    ("lineItem/UnblendedRate", "OptionalBigDecimal"),
    ("lineItem/UnblendedCost", "BigDecimal"),
    ("lineItem/LineItemDescription", "String"),
    ("lineItem/TaxType", "OptionalString"),
    ("lineItem/LegalEntity", "String"),
    ("product/ProductName", "OptionalString"),
    ("product/servicecode", "OptionalString"),
    ("product/regionCode", "OptionalString"),
    ("product/region", "OptionalString"),
    ("product/fromLocation", "OptionalString"),
    ("product/fromRegionCode", "OptionalString"),
    ("product/toRegionCode", "OptionalString"),
    ("product/instanceType", "OptionalString"),
    ("product/productFamily", "OptionalString"),
    ("product/sku", "OptionalString"),
    ("pricing/RateCode", "OptionalString"),
    ("pricing/RateId", "OptionalString"),
    ("pricing/publicOnDemandCost", "OptionalBigDecimal"),
    ("pricing/publicOnDemandRate", "OptionalBigDecimal"),
    ("pricing/term", "OptionalString"),
    ("pricing/unit", "OptionalString"),
    ("reservation/ReservationARN", "OptionalString"),
    ("reservation/EffectiveCost", "OptionalBigDecimal"),
    ("reservation/AmortizedUpfrontFeeForBillingPeriod", "OptionalBigDecimal"),
    ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod", "OptionalBigDecimal"),
    ("reservation/UnusedRecurringFee", "OptionalBigDecimal"),
    ("reservation/RecurringFeeForUsage", "OptionalBigDecimal"),
    ("reservation/UnusedQuantity", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanARN", "OptionalString"),
    ("savingsPlan/SavingsPlanEffectiveCost", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanRate", "OptionalBigDecimal"),
    ("savingsPlan/TotalCommitmentToDate", "OptionalBigDecimal"),
    ("savingsPlan/UsedCommitment", "OptionalBigDecimal"),
    ("savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod", "OptionalBigDecimal"),
    ("savingsPlan/RecurringCommitmentForBillingPeriod", "OptionalBigDecimal"),
    ("reservation/StartTime", "OptionalString"),
    ("reservation/EndTime", "OptionalString"),
    ("savingsPlan/StartTime", "OptionalString"),
    ("savingsPlan/EndTime", "OptionalString"),
]
_PRICED_KINDS = {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation", "RIFee", "Fee"}
_MONEY_COLUMNS = {name for name, kind in LEGACY_COLUMNS if kind.endswith("BigDecimal")}
_TIME_COLUMNS = {name for name, kind in LEGACY_COLUMNS if kind == "DateTime"}
# CUR 2.0 keeps these product attributes as scalars; the others go into the `product` map.
_CUR2_PRODUCT_SCALARS = {
    "product/servicecode",
    "product/regionCode",
    "product/instanceType",
    "product/productFamily",
    "product/sku",
}

RI_ARN = "arn:aws:ec2:us-east-1:222222222222:reserved-instances/4d2f7a10-ri-sample"
RI_INSTANCES, RI_UPFRONT_RATE, RI_RECURRING_RATE, RI_UNUSED_HOURS = 2, 2_000_000, 3_000_000, 50  # 1e-8 USD/h
SP_ARN = "arn:aws:savingsplans::333333333333:savingsplan/7c1e5b2a-sp-sample"
SP_HOURLY_COMMITMENT = SCALE  # 1.00 USD per hour, of which 0.60 paid upfront and 0.40 monthly
SP_UPFRONT_RATE, SP_RECURRING_RATE = 60_000_000, 40_000_000
SP_COVERED = [("i-0sp00000000000001", 6_000_000, 9_600_000), ("task-sp-000000002", 3_500_000, 4_048_000)]  # rate, od
SUPPORT_FEE, REFUND, TAX_RATE_PERCENT = 100 * SCALE, -350_000_000, 8
CREDITS = [(1, -25 * SCALE, "AWS Promotional Credit"), (5, -10 * SCALE, "AWS Activate Credit")]  # account index
FREE_TIER_GB = 100  # each payer's data transfer out to the internet that costs nothing
EDP_DISCOUNT_PERCENT, BUNDLED_DISCOUNT, PRIVATE_RATE_DISCOUNT = 3, -20_000_000, -150_000_000
SPOT_RATE, SPOT_HOURS = 3_500_000, 24  # m5.large spot for a day, on-demand rate 0.096
MARKETPLACE = ("prod-8a7b6c5d4e3f", "Acme Log Analytics", "Acme Analytics LLC", 42 * SCALE)


@dataclass
class MonthTotals:
    """What a delivery of one month contains, known from how it was built."""

    rows: int = 0
    billed_units: int = 0  # Σ unblended cost, 1e-8 USD
    amortized_units: int = 0  # AWS amortized cost (CID formula), 1e-8 USD
    version: str = ""
    files: list[str] = field(default_factory=list)
    commitment_units: dict[str, int] = field(default_factory=dict)  # amortized commitment per RI/SP ARN, 1e-8 USD

    @property
    def billed(self) -> Decimal:
        return Decimal(self.billed_units) / SCALE

    @property
    def amortized(self) -> Decimal:
        return Decimal(self.amortized_units) / SCALE

    @property
    def commitments(self) -> dict[str, Decimal]:
        return {arn: Decimal(units) / SCALE for arn, units in self.commitment_units.items()}


def month_hours(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1] * 24


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def _to_decimal_array(units: np.ndarray) -> pa.Array:
    """int64 units of 1e-8 → decimal128(38, 8) without a Python loop (little-endian 128-bit)."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # sign extension
    return pa.Array.from_buffers(pa.decimal128(38, 8), len(units), [None, pa.py_buffer(words.tobytes())])


def _code(length: int, *parts: object) -> str:
    """A deterministic code of A-Z and 2-7, like AWS's SKU and rate codes."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return base64.b32encode(digest).decode()[:length]


def _rate_units(rate: str) -> int:
    return int(Decimal(rate) * SCALE)


def _pricing(code: str, usage_type: str, place: str, unit: str, term: str | None, rate: int, dimension: str) -> dict:
    """product/sku, pricing/RateId and pricing/RateCode of one price of one product.

    The SKU is the product in one place. RateCode is `<SKU>.<offer term>.<rate code>`, one per SKU and
    price. RateId names the price alone, so the SKUs of every region charging it share it, as in real CURs.
    """
    sku = _code(16, code, usage_type, place)
    price = (RESERVED_TERM if term == "Reserved" else ON_DEMAND_TERM, unit, abs(rate), dimension)
    rate_id = int.from_bytes(hashlib.sha256(repr((code, *price)).encode()).digest()[:5]) % 10**10
    return {
        "product/sku": sku,
        "pricing/RateId": str(rate_id),
        "pricing/RateCode": f"{sku}.{price[0]}.{_code(10, sku, *price)}",
    }


_NO_GEOGRAPHY = dict.fromkeys(
    ["product/regionCode", "product/region", "product/fromRegionCode", "product/toRegionCode", "product/fromLocation"]
)


def _geography(scope: str, region: int, to_region: int | None = None, names_region: bool = True) -> dict:
    """The product/* location columns of a charge, filled as AWS fills them for its kind of service."""
    code = REGIONS[region]
    if scope == "global":
        return {**_NO_GEOGRAPHY, "product/region": "global"}
    if scope == "transfer":
        return {
            **_NO_GEOGRAPHY,
            "product/region": code if names_region else None,
            "product/fromRegionCode": code,
            "product/toRegionCode": REGIONS[to_region] if to_region is not None else None,
            "product/fromLocation": REGION_LOCATIONS[code],
        }
    return {**_NO_GEOGRAPHY, "product/regionCode": code, "product/region": code}


def _usage_product(service: Service, region: int, to_region: int, names_region: bool) -> dict:
    """The text columns of on-demand usage of one service in one place (between two for data transfer)."""
    origin, target = REGIONS[region], REGIONS[to_region]
    if service.scope == "transfer":
        usage_type = f"{REGION_PREFIXES[origin]}-{REGION_PREFIXES[target]}-{service.usage_type}"
        description = f"${service.rate} per GB - {REGION_LOCATIONS[origin]} data transfer to {REGION_LOCATIONS[target]}"
        geography = _geography("transfer", region, to_region, names_region)
    else:
        usage_type = service.usage_type
        description = f"${service.rate} per {service.unit} of {usage_type}"
        geography = _geography(service.scope, region)
    place = "global" if service.scope == "global" else origin
    return {
        "lineItem/UsageType": usage_type,
        "lineItem/AvailabilityZone": f"{origin}a" if service.scope == "regional" else None,
        "lineItem/LineItemDescription": description,
        **geography,
        **_pricing(service.code, usage_type, place, service.unit, "OnDemand", _rate_units(service.rate), "usage"),
    }


def _usage_products(service: np.ndarray, region: np.ndarray, resource: np.ndarray) -> dict[str, pa.Array]:
    """`_usage_product` per row of a usage batch, computed once per distinct product."""
    n_regions = len(REGIONS)
    transfer = np.array([s.scope == "transfer" for s in SERVICES])[service]
    to_region = np.where(transfer, (region + 1 + resource % (n_regions - 1)) % n_regions, region)
    names_region = ~transfer | (resource % 2 == 0)  # half the transfers leave product/region empty too
    key = ((service * n_regions + region) * n_regions + to_region) * 2 + names_region
    distinct, row_product = np.unique(key, return_inverse=True)
    products = []
    for value in distinct.tolist():
        rest, names = divmod(value, 2)
        rest, target = divmod(rest, n_regions)
        index, origin = divmod(rest, n_regions)
        products.append(_usage_product(SERVICES[index], origin, target, bool(names)))
    take = pa.array(row_product.reshape(-1))
    return {column: pa.array([p[column] for p in products], pa.string()).take(take) for column in products[0]}


class _MonthBuilder:
    """Builds one month's line items as column dicts of numpy arrays, batch by batch."""

    def __init__(self, month: date, revision: int, seed: int, term_start: date, invoiced: bool = True):
        self.month, self.revision = month, revision
        # each payer's invoice; AWS leaves bill/InvoiceId empty until the month is invoiced
        self.invoice_ids = [
            f"INV-{month:%Y%m}-{list(PAYERS).index(PAYER_OF[account]) + 1:03d}" if invoiced else None
            for account in ACCOUNTS
        ]
        self.late_tags, self.purchase_month = month > term_start, month == term_start
        self.term = (f"{term_start:%Y-%m-%d}T00:00:00.000Z", f"{term_start.year + 1}-{term_start:%m-%d}T00:00:00.000Z")
        self.rng = np.random.default_rng([seed, month.year, month.month, revision])
        self.hours = month_hours(month)
        self.start = datetime(month.year, month.month, 1)
        self.end = datetime(*_next_month(month).timetuple()[:3])
        self.usage_by_account = np.zeros(len(ACCOUNTS), dtype=np.int64)
        self.next_id = 0
        self.tag_columns = [*TAG_VALUES, *([LATE_TAG] if self.late_tags else [])]

    def _ids(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        return ids

    def usage_batch(self, n: int) -> dict:
        rng = self.rng
        service = rng.integers(0, len(SERVICES), n)
        account = rng.integers(0, len(ACCOUNTS), n)
        region = rng.integers(0, len(REGIONS), n)
        hour = rng.integers(0, self.hours, n)
        amount = rng.integers(1, 20_000, n)  # usage amount in 1e-4 units
        rates = np.array([_rate_units(s.rate) for s in SERVICES], dtype=np.int64)
        rate = rates[service]
        cost = (amount * rate + 5_000) // 10_000
        np.add.at(self.usage_by_account, account, cost)
        tags = {key: rng.integers(0, len(values), n) for key, values in TAG_VALUES.items()}
        if self.late_tags:
            tags[LATE_TAG] = rng.integers(0, 3, n)
        return {
            "kind": "Usage",
            "id": self._ids(n),
            "service": service,
            "account": account,
            "region": region,
            "hour": hour,
            "hours": np.ones(n, dtype=np.int64),
            "amount": amount,
            "rate": rate,
            "cost": cost,
            "resource": rng.integers(0, 40, n),
            "tags": tags,
        }

    def fixed_rows(self) -> list[dict]:
        """Commitments, fees, tax, credit and refund: one small list of single-row dicts."""
        rows: list[dict] = []
        days = self.hours // 24
        ri_hours = self.hours * RI_INSTANCES
        ri_used = ri_hours - RI_UNUSED_HOURS
        effective = RI_UPFRONT_RATE + RI_RECURRING_RATE
        per_day = [ri_used // days + (1 if d < ri_used % days else 0) for d in range(days)]
        for day, used in enumerate(per_day):
            rows.append(
                self._row(
                    "DiscountedUsage",
                    1,
                    0,
                    day * 24,
                    24,
                    used * 10_000,
                    0,
                    description="USD 0.0 hourly fee per Linux/UNIX (Amazon VPC), m5.large instance",
                    ri=dict(effective=used * effective, recurring=used * RI_RECURRING_RATE),
                    public_rate=9_600_000,
                    resource="i-0ri00000000000001",
                )
            )
        unused = RI_UNUSED_HOURS
        rows.append(
            self._row(
                "RIFee",
                1,
                0,
                0,
                self.hours,
                ri_hours * 10_000,
                RI_RECURRING_RATE,
                cost=ri_hours * RI_RECURRING_RATE,
                description="USD 0.03 hourly fee per Linux/UNIX (Amazon VPC), m5.large instance",
                ri=dict(
                    amortized_upfront=ri_hours * RI_UPFRONT_RATE,
                    unused_upfront=unused * RI_UPFRONT_RATE,
                    unused_recurring=unused * RI_RECURRING_RATE,
                    unused_quantity=unused * SCALE,
                ),
            )
        )
        amortized = ri_hours * effective
        if self.purchase_month:
            upfront = 8760 * RI_INSTANCES * RI_UPFRONT_RATE
            rows.append(
                self._row(
                    "Fee",
                    1,
                    0,
                    0,
                    self.hours,
                    RI_INSTANCES * 10_000,
                    0,
                    cost=upfront,
                    description="Sign up charge for subscription: 4d2f7a10, planId: 2195643",
                    ri={},
                )
            )
        sp_used = 0
        for resource, sp_rate, od_rate in SP_COVERED:
            for day in range(days):
                hours = 24
                od_cost, sp_cost = hours * od_rate, hours * sp_rate
                sp_used += sp_cost
                common = dict(resource=resource, public_rate=od_rate)
                rows.append(
                    self._row(
                        "SavingsPlanCoveredUsage",
                        2,
                        0,
                        day * 24,
                        24,
                        hours * 10_000,
                        od_rate,
                        cost=od_cost,
                        description="Savings Plan covered usage",
                        sp=dict(effective=sp_cost, rate=sp_rate),
                        **common,
                    )
                )
                rows.append(
                    self._row(
                        "SavingsPlanNegation",
                        2,
                        0,
                        day * 24,
                        24,
                        hours * 10_000,
                        -od_rate,
                        cost=-od_cost,
                        description=f"SavingsPlanNegation used by AccountId : 333333333333 and UsageSku : {resource}",
                        sp=dict(rate=sp_rate),
                        **common,
                    )
                )
        commitment = self.hours * SP_HOURLY_COMMITMENT
        rows.append(
            self._row(
                "SavingsPlanRecurringFee",
                2,
                0,
                0,
                self.hours,
                self.hours * 10_000,
                SP_RECURRING_RATE,
                cost=self.hours * SP_RECURRING_RATE,
                description="1 year Partial Upfront Compute Savings Plan",
                sp=dict(
                    total=commitment,
                    used=sp_used,
                    recurring=self.hours * SP_RECURRING_RATE,
                    upfront=self.hours * SP_UPFRONT_RATE,
                ),
            )
        )
        if self.purchase_month:
            rows.append(
                self._row(
                    "SavingsPlanUpfrontFee",
                    2,
                    0,
                    0,
                    1,
                    10_000,
                    0,
                    cost=8760 * SP_UPFRONT_RATE,
                    description="1 year Partial Upfront Compute Savings Plan upfront fee",
                    sp={},
                )
            )
        self.commitment_units = {RI_ARN: amortized, SP_ARN: commitment}
        amortized += commitment  # Σ SP effective cost on covered usage + unused commitment
        rows.append(
            self._row(
                "Fee",
                0,
                0,
                0,
                self.hours,
                10_000,
                SUPPORT_FEE,
                cost=SUPPORT_FEE,
                description="AWS Support (Business)",
                product=("AWSSupportBusiness", "AWS Support (Business)"),
            )
        )
        rows.append(
            self._row(
                "Usage",
                0,
                0,
                0,
                SPOT_HOURS,
                SPOT_HOURS * 10_000,
                SPOT_RATE,
                cost=SPOT_HOURS * SPOT_RATE,
                description="$0.035 per Linux/UNIX m5.large spot instance-hour",
                usage_type="SpotUsage:m5.large",
                public_rate=9_600_000,
                resource="i-0spot0000000001",
            )
        )
        code, name, seller, price = MARKETPLACE
        rows.append(
            self._row(
                "Usage",
                3,
                0,
                0,
                self.hours,
                10_000,
                price,
                cost=price,
                description="Acme Log Analytics, monthly subscription",
                product=(code, name),
                usage_type="SoftwareUsage:monthly",
                billing_entity="AWS Marketplace",
                legal_entity=seller,
            )
        )
        for account, credit, description in CREDITS:
            rows.append(self._row("Credit", account, 0, 0, self.hours, 0, 0, cost=credit, description=description))
        transfer = next(i for i, s in enumerate(SERVICES) if s.scope == "transfer")
        for payer in PAYERS:
            rows.append(
                self._row(
                    "Usage",
                    ACCOUNTS.index(payer),
                    transfer,
                    0,
                    self.hours,
                    FREE_TIER_GB * 10_000,
                    0,
                    description=f"$0.00 per GB - first {FREE_TIER_GB} GB free tier",
                    public_rate=0,
                    usage_type="DataTransfer-Out-Bytes",  # to the internet: no target region
                    geography=_geography("transfer", 0),
                    term="OnDemand",
                )
            )
        # A refund for last month's S3 outage: a correction of an already invoiced period.
        refunded_hours = self.hours if self.purchase_month else month_hours(_previous_month(self.month))
        refunded_from = 0 if self.purchase_month else -refunded_hours
        rows.append(
            self._row("Refund", 2, 1, refunded_from, refunded_hours, 0, 0, cost=REFUND, description="Refund: S3 outage")
        )
        rows.append(
            self._row("BundledDiscount", 1, 3, 0, self.hours, 0, 0, cost=BUNDLED_DISCOUNT, description="Free tier")
        )
        rows.append(
            self._row(
                "PrivateRateDiscount", 0, 1, 0, self.hours, 0, 0, cost=PRIVATE_RATE_DISCOUNT, description="Private rate"
            )
        )
        for account, subtotal in enumerate(self.usage_by_account):
            discount = -(int(subtotal) * EDP_DISCOUNT_PERCENT // 100)
            rows.append(
                self._row("EdpDiscount", account, 0, 0, self.hours, 0, 0, cost=discount, description="EDP discount")
            )
        for account, subtotal in enumerate(self.usage_by_account):
            tax = (int(subtotal) * TAX_RATE_PERCENT // 100 // 10**6) * 10**6  # rounded down to cents
            rows.append(
                self._row(
                    "Tax", account, 0, 0, self.hours, 0, 0, cost=tax, description="Tax for product code AmazonEC2"
                )
            )
        # Everything that is neither an RI nor a Savings Plan line counts at its unblended cost.
        amortized += sum(int(r["cost"][0]) for r in rows if r["ri"] is None and r["sp"] is None)
        self.fixed_amortized = int(amortized)
        return rows

    def _row(
        self,
        kind,
        account,
        service,
        hour,
        hours,
        amount,
        rate,
        *,
        cost=0,
        description="",
        ri=None,
        sp=None,
        public_rate=None,
        resource=None,
        product=None,
        usage_type=None,
        billing_entity="AWS",
        legal_entity="Amazon Web Services, Inc.",
        geography=None,
        term=None,
    ) -> dict:
        if geography is None:
            no_region = kind in ("Tax", "Credit", "Refund", "EdpDiscount")
            geography = _NO_GEOGRAPHY if no_region else _geography("regional", 0)
        return {
            "kind": kind,
            "id": self._ids(1),
            "service": np.array([service]),
            "account": np.array([account]),
            "region": np.array([0]),
            "hour": np.array([hour]),
            "hours": np.array([hours]),
            "amount": np.array([amount]),
            "rate": np.array([rate]),
            "cost": np.array([cost]),
            "description": description,
            "ri": ri,
            "sp": sp,
            "public_rate": public_rate,
            "resource_id": resource,
            "product": product,
            "usage_type": usage_type,
            "billing_entity": billing_entity,
            "legal_entity": legal_entity,
            "geography": geography,
            "term": term or ("Reserved" if ri is not None else None),
            "tags": {},
        }


def _legacy_table(builder: _MonthBuilder, batch: dict) -> pa.Table:
    """One batch as legacy CUR columns (`category/Name`), all money as decimal(38, 8)."""
    n = len(batch["id"])
    kind = batch["kind"]
    svc = batch["service"]
    hour = batch["hour"]
    start = np.datetime64(builder.start) + hour.astype("timedelta64[h]")
    end = start + batch["hours"].astype("timedelta64[h]")
    const = lambda value: pa.array([value] * n, pa.string())  # noqa: E731
    pick = lambda col: pa.array([s[col] for s in SERVICES]).take(pa.array(svc))  # noqa: E731
    money = lambda values: _to_decimal_array(np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)))  # noqa: E731
    none_money = pa.nulls(n, pa.decimal128(38, 8))
    none_text = pa.nulls(n, pa.string())
    period_start = builder.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    period_end = builder.end.strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = pc.binary_join_element_wise(
        f"{builder.month:%Y%m}r{builder.revision}-", pa.array(batch["id"]).cast(pa.string()), ""
    )
    generated_usage = "description" not in batch  # a batch of on-demand usage, not one fixed row
    account_index = pa.array(batch["account"])
    account = pa.array(ACCOUNTS).take(account_index)
    if generated_usage:
        resource = pc.binary_join_element_wise(
            pick(7), pa.array(batch["account"] * 100 + batch["resource"]).cast(pa.string()), ""
        )
        product = _usage_products(svc, batch["region"], batch["resource"])
        product_name, servicecode = pick(1), pick(0)
        public_cost, public_rate = money(batch["cost"]), money(batch["rate"])
        ri_arn = sp_arn = none_text
        ri, sp = {}, {}
    else:
        resource = const(batch["resource_id"]) if batch["resource_id"] else none_text
        product = {column: const(value) for column, value in _fixed_row_product(batch).items()}
        code, name = batch["product"] or SERVICES[int(svc[0])][:2]
        product_name, servicecode = const(name), const(code)
        public_rate = money(batch["public_rate"]) if batch["public_rate"] is not None else none_money
        public_cost = (
            money(batch["public_rate"] * batch["amount"] // 10_000) if batch["public_rate"] is not None else none_money
        )
        ri_arn = const(RI_ARN) if batch["ri"] is not None else none_text
        sp_arn = const(SP_ARN) if batch["sp"] is not None else none_text
        ri, sp = batch["ri"] or {}, batch["sp"] or {}
    ri_money = lambda key: money(ri[key]) if key in ri else none_money  # noqa: E731
    sp_money = lambda key: money(sp[key]) if key in sp else none_money  # noqa: E731
    item_type = const(kind)
    columns = {
        "identity/LineItemId": ids,
        "identity/TimeInterval": const(f"{period_start}/{period_end}"),
        "bill/InvoiceId": pa.array(builder.invoice_ids, pa.string()).take(account_index),
        "bill/InvoicingEntity": const("Amazon Web Services, Inc."),
        "bill/BillType": const("Anniversary"),
        "bill/BillingEntity": const("AWS") if generated_usage else const(batch["billing_entity"]),
        "bill/PayerAccountId": pa.array([PAYER_OF[a] for a in ACCOUNTS]).take(account_index),
        "bill/BillingPeriodStartDate": const(period_start),
        "bill/BillingPeriodEndDate": const(period_end),
        "lineItem/UsageAccountId": account,
        "lineItem/LineItemType": item_type,
        "lineItem/UsageStartDate": _utc_strings(start),
        "lineItem/UsageEndDate": _utc_strings(end),
        "lineItem/ProductCode": servicecode,
        "lineItem/UsageType": product["lineItem/UsageType"],
        "lineItem/Operation": pick(3) if generated_usage else const(SERVICES[int(svc[0])][3]),
        "lineItem/AvailabilityZone": product["lineItem/AvailabilityZone"],
        "lineItem/ResourceId": resource,
        "lineItem/UsageAmount": money(batch["amount"] * 10_000),
        "lineItem/CurrencyCode": const("USD"),
        "lineItem/UnblendedRate": money(batch["rate"]),
        "lineItem/UnblendedCost": money(batch["cost"]),
        "lineItem/LineItemDescription": product["lineItem/LineItemDescription"],
        "lineItem/TaxType": const("Sales Tax") if kind == "Tax" else none_text,
        "lineItem/LegalEntity": const("Amazon Web Services, Inc.") if generated_usage else const(batch["legal_entity"]),
        "product/ProductName": product_name,
        "product/servicecode": servicecode,
        "product/regionCode": product["product/regionCode"],
        "product/region": product["product/region"],
        "product/fromLocation": product["product/fromLocation"],
        "product/fromRegionCode": product["product/fromRegionCode"],
        "product/toRegionCode": product["product/toRegionCode"],
        "product/instanceType": const("m5.large")
        if kind in ("DiscountedUsage", "RIFee", "Fee") and batch["ri"] is not None
        else none_text,
        "product/productFamily": pick(6) if generated_usage else const(SERVICES[int(svc[0])][6]),
        "product/sku": product["product/sku"],
        "pricing/RateCode": product["pricing/RateCode"],
        "pricing/RateId": product["pricing/RateId"],
        "pricing/publicOnDemandCost": public_cost,
        "pricing/publicOnDemandRate": public_rate,
        "pricing/term": const("OnDemand") if generated_usage else const(batch["term"]),
        "pricing/unit": pick(4) if generated_usage else const(SERVICES[int(svc[0])][4]),
        "reservation/ReservationARN": ri_arn,
        "reservation/EffectiveCost": ri_money("effective"),
        "reservation/AmortizedUpfrontFeeForBillingPeriod": ri_money("amortized_upfront"),
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": ri_money("unused_upfront"),
        "reservation/UnusedRecurringFee": ri_money("unused_recurring"),
        "reservation/RecurringFeeForUsage": ri_money("recurring"),
        "reservation/UnusedQuantity": ri_money("unused_quantity"),
        "savingsPlan/SavingsPlanARN": sp_arn,
        "savingsPlan/SavingsPlanEffectiveCost": sp_money("effective"),
        "savingsPlan/SavingsPlanRate": sp_money("rate"),
        "savingsPlan/TotalCommitmentToDate": sp_money("total"),
        "savingsPlan/UsedCommitment": sp_money("used"),
        "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod": sp_money("upfront"),
        "savingsPlan/RecurringCommitmentForBillingPeriod": sp_money("recurring"),
        "reservation/StartTime": const(builder.term[0]) if batch.get("ri") is not None else none_text,
        "reservation/EndTime": const(builder.term[1]) if batch.get("ri") is not None else none_text,
        "savingsPlan/StartTime": const(builder.term[0]) if batch.get("sp") is not None else none_text,
        "savingsPlan/EndTime": const(builder.term[1]) if batch.get("sp") is not None else none_text,
    }
    for tag in builder.tag_columns:
        values = TAG_VALUES.get(tag, ["alpha", "beta", None])
        if tag in batch["tags"]:
            columns[tag] = pa.array(values, pa.string()).take(pa.array(batch["tags"][tag]))
        else:
            columns[tag] = none_text
    return pa.table(columns)


def _fixed_row_product(batch: dict) -> dict[str, str | None]:
    """The text columns `_usage_product` gives generated usage, for one fixed row."""
    service = SERVICES[int(batch["service"][0])]
    code = batch["product"][0] if batch["product"] else service.code
    usage_type = batch["usage_type"] or service.usage_type
    geography = batch["geography"]
    if batch["kind"] in _PRICED_KINDS:
        place = geography["product/regionCode"] or geography["product/fromRegionCode"] or "global"
        dimension = "upfront" if batch["kind"] == "Fee" else "usage"
        pricing = _pricing(code, usage_type, place, service.unit, batch["term"], int(batch["rate"][0]), dimension)
    else:
        pricing = dict.fromkeys(["product/sku", "pricing/RateId", "pricing/RateCode"])
    return {
        "lineItem/UsageType": usage_type,
        "lineItem/AvailabilityZone": None,
        "lineItem/LineItemDescription": batch["description"],
        **geography,
        **pricing,
    }


def _utc_strings(times: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.array(np.datetime_as_string(times, unit="s")), "Z", "")


def _cur2_table(legacy: pa.Table) -> pa.Table:
    """The same rows as CUR 2.0: snake_case names, doubles and timestamps, tags and product in maps."""
    columns: dict[str, pa.Array] = {}
    tag_names = [name for name in legacy.column_names if name.startswith("resourceTags/")]
    for name in legacy.column_names:
        if name in tag_names or (name.startswith("product/") and name not in _CUR2_PRODUCT_SCALARS):
            continue
        column = legacy[name]
        if name in _MONEY_COLUMNS:
            column = column.cast(pa.float64())
        elif name in _TIME_COLUMNS:
            column = pc.strptime(column, format="%Y-%m-%dT%H:%M:%SZ", unit="ms")
        columns[athena_column_name(name)] = column
    # CUR 2.0 also names the accounts (legacy CUR does not).
    payer_ids = legacy["bill/PayerAccountId"].combine_chunks()
    columns["bill_payer_account_name"] = pa.array(list(ACCOUNT_NAMES.values())).take(
        pc.index_in(payer_ids, pa.array(list(ACCOUNT_NAMES)))
    )
    account_ids = legacy["lineItem/UsageAccountId"].combine_chunks()
    columns["line_item_usage_account_name"] = pa.array(list(ACCOUNT_NAMES.values())).take(
        pc.index_in(account_ids, pa.array(list(ACCOUNT_NAMES)))
    )
    columns["resource_tags"] = _map_column(legacy, tag_names, lambda tag: athena_column_name(tag.split("/", 1)[1]))
    # product/fromRegionCode → product['from_region_code'], product/ProductName → product['product_name']
    product_names = [n for n in legacy.column_names if n.startswith("product/") and n not in _CUR2_PRODUCT_SCALARS]
    columns["product"] = _map_column(legacy, product_names, lambda n: athena_column_name(n).removeprefix("product_"))
    return pa.table(columns)


def _map_column(table: pa.Table, sources: list[str], key_of) -> pa.Array:
    """A map<string,string> per row holding only the non-null source values (as CUR 2.0 does)."""
    n = table.num_rows
    values = [table[s].combine_chunks() for s in sources]
    present = np.stack([np.asarray(v.is_valid()) for v in values], axis=1) if values else np.zeros((n, 0), bool)
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    rows, cols = np.nonzero(present)  # row-major, so keys stay grouped by row
    keys = pa.array([key_of(s) for s in sources], pa.string()).take(pa.array(cols))
    stacked = pa.concat_arrays(values) if values else pa.array([], pa.string())
    items = stacked.take(pa.array(cols * n + rows))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, items)


def _month_tables(builder: _MonthBuilder, rows: int, batch_rows: int) -> Iterator[tuple[pa.Table, int]]:
    """(legacy table, Σ unblended units) per batch; the fixed rows come last, as tax needs usage subtotals."""
    usage_rows = max(rows - _fixed_row_count(builder), 0)
    for offset in range(0, usage_rows, batch_rows):
        batch = builder.usage_batch(min(batch_rows, usage_rows - offset))
        yield _legacy_table(builder, batch), int(batch["cost"].sum())
    fixed = builder.fixed_rows()
    yield pa.concat_tables(_legacy_table(builder, row) for row in fixed), sum(int(r["cost"][0]) for r in fixed)


def _fixed_row_count(builder: _MonthBuilder) -> int:
    days = builder.hours // 24
    commitments = days + 1 + 2 * days * len(SP_COVERED) + 1 + 2 * int(builder.purchase_month)
    # support, spot + marketplace, credits, refund, bundled + private rate discount, free tier, EDP + tax
    return commitments + 1 + 2 + len(CREDITS) + 1 + 2 + len(PAYERS) + 2 * len(ACCOUNTS)


def write_month(
    out_root: Path,
    export_name: str,
    fmt: str,
    month: date,
    *,
    rows: int,
    s3_uri: str,
    revision: int = 1,
    seed: int = 7,
    chunk_rows: int = 1_000_000,
    batch_rows: int = 250_000,
    first_month: date | None = None,
    invoiced: bool = True,
) -> MonthTotals:
    """Write one delivery of one month (legacy `cur1` or `cur2`) with its manifests.

    `invoiced=False` writes an open month: no invoice issued yet, so `bill/InvoiceId` is empty.
    """
    first_month = first_month or month
    builder = _MonthBuilder(month, revision, seed, term_start=first_month, invoiced=invoiced)
    version = str(uuid.uuid5(_UUID_NAMESPACE, f"{export_name}/{month}/{revision}/{seed}"))
    totals = MonthTotals(version=version)
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    writer = _ChunkWriter(out_root, export_name, fmt, month, version, chunk_rows)
    for table, billed_units in _month_tables(builder, rows, batch_rows):
        totals.rows += table.num_rows
        totals.billed_units += billed_units
        writer.write(table if fmt == "cur1" else _cur2_table(table))
    writer.close()
    totals.amortized_units = int(builder.usage_by_account.sum()) + builder.fixed_amortized
    totals.commitment_units = builder.commitment_units
    totals.files = writer.files
    columns = [name for name, _ in LEGACY_COLUMNS] + builder.tag_columns
    _write_manifests(out_root, export_name, fmt, month, version, writer, bucket, prefix, columns)
    return totals


class _ChunkWriter:
    """Streams tables into numbered chunk files of at most `chunk_rows` rows."""

    def __init__(self, out_root: Path, export_name: str, fmt: str, month: date, version: str, chunk_rows: int):
        self.fmt, self.export_name, self.chunk_rows = fmt, export_name, chunk_rows
        if fmt == "cur1":
            period = f"{month:%Y%m%d}-{_next_month(month):%Y%m%d}"
            self.relative_folder = f"{export_name}/{period}/{version}"
        else:
            self.relative_folder = f"{export_name}/data/BILLING_PERIOD={month:%Y-%m}"
        self.folder = out_root / self.relative_folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[str] = []
        self._sink = None
        self._rows_in_chunk = 0
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._sink is None or self._rows_in_chunk >= self.chunk_rows:
                self._open_next()
            take = min(self.chunk_rows - self._rows_in_chunk, table.num_rows)
            part, table = table.slice(0, take), table.slice(take)
            self.schema = self.schema or part.schema
            self._sink.write(part.cast(self.schema) if self.fmt != "cur1" else part)
            self._rows_in_chunk += take

    def _open_next(self) -> None:
        self.close()
        number = len(self.files) + 1
        if self.fmt == "cur1":
            name = f"{self.export_name}-{number:05d}.csv.gz"
            stream = pa.CompressedOutputStream(str(self.folder / name), "gzip")
            self._sink = _CsvSink(stream)
        else:
            name = f"{self.export_name}-{number:05d}.snappy.parquet"
            self._sink = _ParquetSink(self.folder / name)
        self.files.append(f"{self.relative_folder}/{name}")
        self._rows_in_chunk = 0

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


class _CsvSink:
    def __init__(self, stream):
        self.stream, self.writer = stream, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pa_csv.CSVWriter(
                self.stream, table.schema, write_options=pa_csv.WriteOptions(quoting_style="needed")
            )
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.stream.close()


class _ParquetSink:
    def __init__(self, path: Path):
        self.path, self.writer = path, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="snappy")
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _write_manifests(
    out_root: Path,
    export_name: str,
    fmt: str,
    month: date,
    version: str,
    writer: _ChunkWriter,
    bucket: str,
    prefix: str,
    legacy_columns: list[str],
) -> None:
    keys = [f"{prefix}/{f}" if prefix else f for f in writer.files]
    period = {"start": f"{month:%Y%m%d}T000000.000Z", "end": f"{_next_month(month):%Y%m%d}T000000.000Z"}
    types = dict(LEGACY_COLUMNS)
    if fmt == "cur1":
        body = {
            "assemblyId": version,
            "account": PAYER_ACCOUNT,
            "bucket": bucket,
            "charset": "UTF-8",
            "compression": "GZIP",
            "contentType": "text/csv",
            "reportName": export_name,
            "billingPeriod": period,
            "reportKeys": keys,
            "additionalArtifactKeys": [],
            "columns": [
                {"category": c.split("/", 1)[0], "name": c.split("/", 1)[1], "type": types.get(c, "OptionalString")}
                for c in legacy_columns
            ],
        }
        period_root = out_root / export_name / f"{month:%Y%m%d}-{_next_month(month):%Y%m%d}"
        targets = [period_root / version, period_root]  # per-version copy, then the period root
    else:
        body = {
            "executionId": version,
            "billingPeriod": period,
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{PAYER_ACCOUNT}:export/{export_name}-sample",
            "dataFiles": [f"s3://{bucket}/{key}" for key in keys],
            "columns": [
                {"name": f, "type": str(t)} for f, t in zip(writer.schema.names, writer.schema.types, strict=True)
            ],
        }
        targets = [out_root / export_name / "metadata" / f"BILLING_PERIOD={month:%Y-%m}"]
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{export_name}-Manifest.json").write_text(json.dumps(body, indent=1))


def write_legacy_rows(
    out_root: Path,
    export_name: str,
    month: date,
    rows: list[dict[str, str]],
    *,
    s3_uri: str,
    version: str,
    chunk_rows: int | None = None,
) -> list[str]:
    """One legacy CUR delivery holding exactly `rows` (CUR header → text), e.g. a hand-written scenario.

    Every generator column is written (blank where a row has no value) plus any extra columns the
    rows name, in files of `chunk_rows` rows (default: one file); returns the delivery's data files.
    """
    names = [name for name, _ in LEGACY_COLUMNS]
    names += sorted({key for row in rows for key in row} - set(names))
    table = pa.table({name: pa.array([row.get(name) for row in rows], pa.string()) for name in names})
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    writer = _ChunkWriter(out_root, export_name, "cur1", month, version, chunk_rows=chunk_rows or len(rows) or 1)
    writer.write(table)
    writer.close()
    _write_manifests(out_root, export_name, "cur1", month, version, writer, bucket, prefix, names)
    return writer.files


def generate(
    out_root: Path,
    months: list[date],
    rows: int,
    *,
    s3_uri: str = "s3://finops-sample-billing/exports",
    seed: int = 7,
    chunk_rows: int = 1_000_000,
    formats: tuple[str, ...] = ("cur1", "cur2"),
) -> dict:
    """Write every month for each format, the last one still open (not invoiced).

    Returns {(export_name, 'YYYY-MM'): MonthTotals}.
    """
    names = {"cur1": "sample-cur-legacy", "cur2": "sample-cur2"}
    result = {}
    for fmt in formats:
        for month in months:
            totals = write_month(
                out_root,
                names[fmt],
                fmt,
                month,
                rows=rows,
                s3_uri=s3_uri,
                seed=seed,
                chunk_rows=chunk_rows,
                first_month=months[0],
                invoiced=month != months[-1],
            )
            result[(names[fmt], f"{month:%Y-%m}")] = totals
    return result


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--months", nargs="+", default=["2025-01", "2025-02"])
    parser.add_argument("--rows", type=int, default=5_000, help="rows per month and export")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    months = [date.fromisoformat(f"{m}-01") for m in args.months]
    for (name, month), totals in generate(args.out, months, args.rows, chunk_rows=args.chunk_rows).items():
        print(
            f"{name:20} {month}  rows={totals.rows:>10}  billed={totals.billed:>14}  amortized={totals.amortized:>14}"
        )


if __name__ == "__main__":
    _main()
