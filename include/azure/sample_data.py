"""Deterministic, realistic Azure Cost Management exports for demos, tests and benchmarks.

Writes export runs as Cost Management delivers them to a storage container, in a local folder that
mirrors the container (`root`), so that a blob's name is its path under `root`:

    <root>/<root folder path>/<export-name>/<YYYYMMDD-YYYYMMDD>/[<export-time>/]<run-id>/manifest.json
                                                                                          + part_0_0001.<ext>, ...

with `manifest.json` in the current shape (`manifestVersion` 2024-04-01) or the older one without it,
`blobs[].blobName` the path inside the container, run ids uuid5 and submitted times fixed by the
export, month and run. Parts are CSV, CSV.gz or Parquet (snappy); an overwriting export keeps one run
folder per month, a non-overwriting one keeps every run (a later run restating the month).

Three scopes, each with its own subscriptions, a reservation (upfront) and a savings plan (paid
monthly) that both leave hours unused:
- an EA enrollment (`EA_SCOPE`): the 2024-08-01 column set, PascalCase, `MM/DD/YYYY` dates, USD,
  tags in the brace-less form (`"env": "prod","team": "data"`), `PricingModel` spelled `OnDemand`;
- an MCA billing profile (`MCA_SCOPE`): the 2023-12-01-preview column set, camelCase, ISO dates,
  billed in EUR, priced in USD with an exchange rate, `invoiceId` only once the month is invoiced,
  `previousInvoiceId` on refunds, tags as JSON, `pricingModel` spelled `On Demand`;
- a further MCA billing profile in USD (`FOCUS_SCOPE`) exported as `FocusCost` 1.2-preview and 1.0r2.
EA and MCA each have an actual and an amortized export: the actual one carries the commitment
purchases and commitment-covered usage at 0, the amortized one the covered usage at the amortized
rate plus UnusedReservation / UnusedSavingsPlan rows (no SubscriptionId), and not the purchases.
Every month has on-demand usage over several services, units (`1 Hour`, `10 Hours`, `100 Hours`,
`1 GB/Month`, `10K`, ...) and region spellings (`US East`, `eastus`, `EastUS`, empty), spot usage,
Marketplace usage and a Marketplace purchase with a refund (third-party publisher); invoiced months
also a RoundingAdjustment (no SubscriptionId). Services, resource types, units and locations are ones
the toolkit's reference tables know (../shared/reference/azure/).

Money is built as integers of 1e-10 (`SCALE`) of a currency unit and quantities of 1e-6, so every
total the functions return (Σ actual, Σ amortized, per commitment its amortized amount and the used
and unused parts, rows per file) is exact by construction. Rows are written day by day in parts of
at most `part_rows` rows; a month never sits in memory as a whole.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import functools
import gzip
import hashlib
import io
import json
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

SCALE = 10**10  # money in integer units of 1e-10 of the currency
QUANTITY_SCALE = 10**6  # quantities in integer units of 1e-6
_NAMESPACE = uuid.UUID("3b0c5f8e-2d7a-4e51-9c1f-8a6d4b2e7f90")
CONTAINER = "msexports"
ROOT_FOLDER_PATH = "costmanagement"  # the export's directory inside the container: blob names start with it
DEFAULT_ROWS = 3_000  # about this many rows per scope and full month
DEFAULT_PART_ROWS = 2_500
OPEN_MONTH_DAYS = 20  # days the open (current) month holds when its last run was submitted

# Cost Management's columns, in the order its exports write them (S-EA 2024-08-01, S-MCA 2023-12-01-preview).
EA_COLUMNS = (  # noqa: SIM905 - a list as the documentation prints it
    "InvoiceSectionName AccountName AccountOwnerId SubscriptionId SubscriptionName ResourceGroup "
    "ResourceLocation Date ProductName MeterCategory MeterSubCategory MeterId MeterName MeterRegion "
    "UnitOfMeasure Quantity EffectivePrice CostInBillingCurrency CostCenter ConsumedService ResourceId Tags "
    "OfferId AdditionalInfo ServiceInfo1 ServiceInfo2 ResourceName ReservationId ReservationName UnitPrice "
    "ProductOrderId ProductOrderName Term PublisherType PublisherName ChargeType Frequency PricingModel "
    "AvailabilityZone BillingAccountId BillingAccountName BillingCurrencyCode BillingPeriodStartDate "
    "BillingPeriodEndDate BillingProfileId BillingProfileName InvoiceSectionId IsAzureCreditEligible "
    "PartNumber PayGPrice PlanName ServiceFamily CostAllocationRuleName benefitId benefitName AccountId "
    "ResourceLocationNormalized"
).split()
MCA_COLUMNS = (  # noqa: SIM905 - a list as the documentation prints it
    "invoiceId previousInvoiceId billingAccountId billingAccountName billingProfileId billingProfileName "
    "invoiceSectionId invoiceSectionName resellerName resellerMpnId costCenter billingPeriodEndDate "
    "billingPeriodStartDate servicePeriodEndDate servicePeriodStartDate date serviceFamily productOrderId "
    "productOrderName consumedService meterId meterName meterCategory meterSubCategory meterRegion ProductId "
    "ProductName SubscriptionId subscriptionName publisherType publisherId publisherName resourceGroupName "
    "ResourceId resourceLocation location effectivePrice quantity unitOfMeasure chargeType billingCurrency "
    "pricingCurrency costInBillingCurrency costInPricingCurrency costInUsd paygCostInBillingCurrency "
    "paygCostInUsd exchangeRatePricingToBilling exchangeRateDate isAzureCreditEligible serviceInfo1 "
    "serviceInfo2 additionalInfo tags PayGPrice frequency term reservationId reservationName pricingModel "
    "unitPrice costAllocationRuleName benefitId benefitName provider"
).split()
# The FocusCost 1.2-preview columns (toolkit dataset metadata FocusCost_1.2-preview.json), sorted as it lists them.
FOCUS_1_2_COLUMNS = (  # noqa: SIM905 - a list as the documentation prints it
    "BilledCost BillingAccountId BillingAccountName BillingAccountType BillingCurrency BillingPeriodEnd "
    "BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory ChargeClass "
    "ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory "
    "CommitmentDiscountId CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus "
    "CommitmentDiscountType CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost "
    "ContractedUnitPrice EffectiveCost InvoiceId InvoiceIssuerName ListCost ListUnitPrice PricingCategory "
    "PricingCurrency PricingQuantity PricingUnit ProviderName PublisherName RegionId RegionName ResourceId "
    "ResourceName ResourceType ServiceCategory ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceDetails "
    "SkuPriceId SubAccountId SubAccountName SubAccountType Tags x_AccountId x_AccountName x_AccountOwnerId "
    "x_AmortizationClass x_BilledCostInUsd x_BilledUnitPrice x_BillingAccountId x_BillingAccountName "
    "x_BillingExchangeRate x_BillingExchangeRateDate x_BillingProfileId x_BillingProfileName "
    "x_ContractedCostInUsd x_CostAllocationRuleName x_CostCenter x_CustomerId x_CustomerName "
    "x_EffectiveCostInUsd x_EffectiveUnitPrice x_InvoiceIssuerId x_InvoiceSectionId x_InvoiceSectionName "
    "x_ListCostInUsd x_PartnerCreditApplied x_PartnerCreditRate x_PricingBlockSize x_PricingSubcategory "
    "x_PricingUnitDescription x_PublisherCategory x_PublisherId x_ResellerId x_ResellerName "
    "x_ResourceGroupName x_ResourceType x_ServiceModel x_ServicePeriodEnd x_ServicePeriodStart "
    "x_SkuDescription x_SkuDetails x_SkuIsCreditEligible x_SkuMeterCategory x_SkuMeterId x_SkuMeterName "
    "x_SkuMeterSubcategory x_SkuOfferId x_SkuOrderId x_SkuOrderName x_SkuPartNumber x_SkuPlanName "
    "x_SkuRegion x_SkuServiceFamily x_SkuTerm x_SkuTier"
).split()
# 1.0 / 1.0r2 lack the columns 1.2 added and still carry the three it renamed (x_InvoiceId → InvoiceId, ...).
_ADDED_IN_1_2 = {
    "CapacityReservationId",
    "CapacityReservationStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "InvoiceId",
    "PricingCurrency",
    "ServiceSubcategory",
    "SkuMeter",
    "SkuPriceDetails",
    "x_AmortizationClass",
    "x_ServiceModel",
    "x_SkuPlanName",
}
FOCUS_1_0_COLUMNS = sorted((set(FOCUS_1_2_COLUMNS) - _ADDED_IN_1_2) | {"x_InvoiceId", "x_PricingCurrency"})
FOCUS_DECIMAL_COLUMNS = {
    "BilledCost",
    "CommitmentDiscountQuantity",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingQuantity",
    "x_BilledCostInUsd",
    "x_BilledUnitPrice",
    "x_BillingExchangeRate",
    "x_ContractedCostInUsd",
    "x_EffectiveCostInUsd",
    "x_EffectiveUnitPrice",
    "x_ListCostInUsd",
    "x_PricingBlockSize",
}
FOCUS_DATETIME_COLUMNS = {
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "x_BillingExchangeRateDate",
    "x_ServicePeriodEnd",
    "x_ServicePeriodStart",
}
EA_DECIMAL_COLUMNS = {"Quantity", "EffectivePrice", "CostInBillingCurrency", "UnitPrice", "PayGPrice"}
MCA_DECIMAL_COLUMNS = {
    "effectivePrice",
    "quantity",
    "costInBillingCurrency",
    "costInPricingCurrency",
    "costInUsd",
    "paygCostInBillingCurrency",
    "paygCostInUsd",
    "exchangeRatePricingToBilling",
    "PayGPrice",
    "unitPrice",
}
# Azure's Parquet exports carry costs as DECIMAL(38, x) (FOCUS_Spec#1077); this scale holds every generated digit.
PARQUET_DECIMAL = pa.decimal128(38, 18)


@functools.cache
def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


@functools.cache
def _digits(length: int, *parts: object) -> int:
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest(), 16) % 10**length


def _units(text: str) -> int:
    """A decimal text → integer units of 1e-10 (exact, or a ValueError)."""
    scaled = Decimal(text) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text} has more than 10 decimals")
    return int(scaled)


def _decimal(units: int, scale: int = SCALE) -> Decimal:
    return Decimal(units) / scale


def _times(quantity: int, price: int) -> int:
    """quantity (1e-6) × price (1e-10) → money (1e-10), half away from zero, as Azure rounds a charge."""
    product = quantity * price
    rounded = (abs(product) + QUANTITY_SCALE // 2) // QUANTITY_SCALE
    return rounded if product >= 0 else -rounded


def month_days(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


# ---------------------------------------------------------------------------------------------------------------
# Scopes, subscriptions, the catalogue of meters and the resources that use them
# ---------------------------------------------------------------------------------------------------------------


class Subscription(NamedTuple):
    id: str
    name: str
    account: str  # EA enrollment account (AccountName), and its owner
    department: str  # EA department / MCA invoice section
    cost_center: str


@dataclass(frozen=True)
class Scope:
    """One export scope: an EA enrollment or an MCA billing profile, billed in one currency."""

    key: str
    agreement: str  # "EA" or "MCA"
    billing_account_id: str
    billing_account_name: str
    billing_profile_id: str
    billing_profile_name: str
    billing_currency: str
    exchange_rate: str = "1"  # pricing (USD) → billing currency
    subscriptions: tuple[Subscription, ...] = ()

    @property
    def resource_id(self) -> str:
        """The scope's ARM id, as an export's `exportConfig.resourceId` starts."""
        account = f"/providers/Microsoft.Billing/billingAccounts/{self.billing_account_id}"
        return account if self.agreement == "EA" else f"{account}/billingProfiles/{self.billing_profile_id}"

    @property
    def focus_billing_account_id(self) -> str:
        """What FOCUS calls the billing account: the EA enrollment, the MCA billing profile (toolkit rule)."""
        return self.billing_account_id if self.agreement == "EA" else self.billing_profile_id

    def to_billing(self, units: int) -> int:
        """Pricing-currency units → billing-currency units, half away from zero."""
        rate = Decimal(self.exchange_rate)
        numerator, denominator = rate.as_integer_ratio()
        product = units * numerator
        rounded = (abs(product) + denominator // 2) // denominator
        return rounded if product >= 0 else -rounded


def _subscriptions(scope_key: str, names: list[tuple[str, str, str]]) -> tuple[Subscription, ...]:
    return tuple(
        Subscription(_uuid(scope_key, "subscription", name), name, account, department, f"CC-{100 + 10 * i}")
        for i, (name, account, department) in enumerate(names)
    )


EA_SCOPE = Scope(
    key="ea",
    agreement="EA",
    billing_account_id="81234567",
    billing_account_name="Contoso Enterprise Enrollment",
    billing_profile_id="81234567",
    billing_profile_name="Contoso Enterprise Enrollment",
    billing_currency="USD",
    subscriptions=_subscriptions(
        "ea",
        [
            ("contoso-prod", "Platform Team", "Engineering"),
            ("contoso-data", "Data Team", "Engineering"),
            ("contoso-dev", "Platform Team", "Research"),
        ],
    ),
)
MCA_SCOPE = Scope(
    key="mca",
    agreement="MCA",
    billing_account_id=f"{_uuid('mca', 'account')}:{_uuid('mca', 'tenant')}_2019-05-31",
    billing_account_name="Fabrikam GmbH",
    billing_profile_id="AB12-CD34-EF5-GH6",
    billing_profile_name="Fabrikam Europe",
    billing_currency="EUR",
    exchange_rate="0.9235",
    subscriptions=_subscriptions("mca", [("fabrikam-shop", "", "Retail"), ("fabrikam-analytics", "", "Analytics")]),
)
FOCUS_SCOPE = Scope(
    key="focus",
    agreement="MCA",
    billing_account_id=f"{_uuid('focus', 'account')}:{_uuid('focus', 'tenant')}_2019-05-31",
    billing_account_name="Northwind Traders Inc.",
    billing_profile_id="NW77-XY88-Z99-QR1",
    billing_profile_name="Northwind US",
    billing_currency="USD",
    subscriptions=_subscriptions("focus", [("northwind-web", "", "Web"), ("northwind-ml", "", "Machine Learning")]),
)
SCOPES = (EA_SCOPE, MCA_SCOPE, FOCUS_SCOPE)


class Meter(NamedTuple):
    """One priced meter, and the FOCUS service of its resource type (toolkit Services.csv)."""

    key: str
    consumed_service: str
    resource_type: str  # the ARM type its resources have: provider namespace/type[/child type]
    category: str
    subcategory: str
    name: str
    family: str
    unit: str  # UnitOfMeasure
    payg: str  # list price per unit, USD
    quantity: tuple[int, int]  # random daily quantity range, 1e-6 units
    service: tuple[str, str, str, str]  # ServiceName, ServiceCategory, ServiceSubcategory, x_ServiceModel
    focus_unit: str  # PricingUnits.csv DistinctUnits of `unit`
    block: int = 1  # PricingUnits.csv PricingBlockSize of `unit`
    mca_unit: tuple[str, int] | None = None  # an EA-only unit's MCA spelling and how many of it make one EA unit
    resource_type_name: str = ""  # FOCUS ResourceType
    additional: str = ""  # AdditionalInfo JSON (VM size and vCPUs)


_VM = ("Virtual Machines", "Compute", "Virtual Machines", "IaaS")
_HOURS = (1 * QUANTITY_SCALE, 24 * QUANTITY_SCALE)
USAGE_METERS = (
    Meter(
        "vm-d2s",
        "Microsoft.Compute",
        "Microsoft.Compute/virtualMachines",
        "Virtual Machines",
        "Dsv3 Series",
        "D2s v3",
        "Compute",
        "1 Hour",
        "0.096",
        _HOURS,
        _VM,
        "Hours",
        resource_type_name="Virtual machine",
        additional='{"ServiceType":"Standard_D2s_v3","VCPUs":2,"UsageType":"ComputeHR"}',
    ),
    Meter(
        "vm-b2s",
        "Microsoft.Compute",
        "Microsoft.Compute/virtualMachines",
        "Virtual Machines",
        "BS Series",
        "B2s",
        "Compute",
        "10 Hours",
        "0.416",
        (100_000, 2_400_000),
        _VM,
        "Hours",
        block=10,
        mca_unit=("1 Hour", 10),
        resource_type_name="Virtual machine",
        additional='{"ServiceType":"Standard_B2s","VCPUs":2,"UsageType":"ComputeHR"}',
    ),
    Meter(
        "disk-p10",
        "Microsoft.Compute",
        "Microsoft.Compute/disks",
        "Storage",
        "Premium SSD Managed Disks",
        "P10 LRS Disk",
        "Storage",
        "1/Month",
        "19.71",
        (32_258, 32_259),
        _VM,
        "Units/Month",
        resource_type_name="Disk",
    ),
    Meter(
        "blob-hot",
        "Microsoft.Storage",
        "Microsoft.Storage/storageAccounts",
        "Storage",
        "Tiered Block Blob",
        "Hot LRS Data Stored",
        "Storage",
        "1 GB/Month",
        "0.0184",
        (1_000_000, 900_000_000),
        ("Storage Accounts", "Storage", "Storage Platforms", "IaaS"),
        "GB/Month",
        resource_type_name="Storage account",
    ),
    Meter(
        "blob-reads",
        "Microsoft.Storage",
        "Microsoft.Storage/storageAccounts",
        "Storage",
        "Tiered Block Blob",
        "Hot Read Operations",
        "Storage",
        "10K",
        "0.0044",
        (10_000, 50_000_000),
        ("Storage Accounts", "Storage", "Storage Platforms", "IaaS"),
        "Units",
        block=10_000,
        resource_type_name="Storage account",
    ),
    Meter(
        "sql-vcore",
        "Microsoft.Sql",
        "Microsoft.Sql/servers/databases",
        "SQL Database",
        "General Purpose - Compute Gen5",
        "vCore",
        "Databases",
        "1 Hour",
        "0.2522",
        (24_000_000, 48_000_000),
        ("Azure SQL Database", "Databases", "Relational Databases", "PaaS"),
        "Hours",
        resource_type_name="SQL database",
    ),
    Meter(
        "public-ip",
        "Microsoft.Network",
        "Microsoft.Network/publicIPAddresses",
        "Virtual Network",
        "IP Addresses",
        "Standard IPv4 Static Public IP",
        "Networking",
        "100 Hours",
        "0.5",
        (240_000, 240_001),
        ("Virtual Network", "Networking", "Network Infrastructure", "IaaS"),
        "Hours",
        block=100,
        resource_type_name="Public IP address",
    ),
    Meter(
        "log-ingest",
        "Microsoft.OperationalInsights",
        "Microsoft.OperationalInsights/workspaces",
        "Log Analytics",
        "",
        "Analytics Logs Data Ingestion",
        "Management and Governance",
        "1 GB",
        "2.76",
        (10_000, 40_000_000),
        ("Azure Monitor", "Management and Governance", "Observability", "PaaS"),
        "GB",
        resource_type_name="Log Analytics workspace",
    ),
    Meter(
        "app-p1v3",
        "Microsoft.Web",
        "Microsoft.Web/sites",
        "Azure App Service",
        "Premium v3 Plan",
        "P1 v3 App",
        "Compute",
        "1 Hour",
        "0.2",
        _HOURS,
        ("Azure App Service", "Web", "Application Platforms", "PaaS"),
        "Hours",
        resource_type_name="App Service web app",
    ),
    Meter(
        "aks-uptime",
        "Microsoft.ContainerService",
        "Microsoft.ContainerService/managedClusters",
        "Azure Kubernetes Service",
        "Standard",
        "Standard Uptime SLA",
        "Compute",
        "1 Hour",
        "0.1",
        _HOURS,
        ("Azure Kubernetes Service", "Compute", "Containers", "PaaS"),
        "Hours",
        resource_type_name="Kubernetes service",
    ),
    Meter(
        "keyvault-ops",
        "Microsoft.KeyVault",
        "Microsoft.KeyVault/vaults",
        "Key Vault",
        "Standard",
        "Operations",
        "Security",
        "10K",
        "0.03",
        (10_000, 20_000_000),
        ("Key Vault", "Security", "Secret Management", "PaaS"),
        "Units",
        block=10_000,
        resource_type_name="Key vault",
    ),
)
SPOT_METER = Meter(
    "vm-d4s-spot",
    "Microsoft.Compute",
    "Microsoft.Compute/virtualMachines",
    "Virtual Machines",
    "Dsv3 Series",
    "D4s v3 Spot",
    "Compute",
    "1 Hour",
    "0.0384",
    (24 * QUANTITY_SCALE, 24 * QUANTITY_SCALE + 1),
    _VM,
    "Hours",
    resource_type_name="Virtual machine",
    additional='{"ServiceType":"Standard_D4s_v3","VCPUs":4,"UsageType":"ComputeHR_SW"}',
)
RESERVED_METER = USAGE_METERS[0]  # D2s v3
SAVINGS_PLAN_METER = Meter(
    "vm-e4s",
    "Microsoft.Compute",
    "Microsoft.Compute/virtualMachines",
    "Virtual Machines",
    "Esv5 Series",
    "E4s v5",
    "Compute",
    "1 Hour",
    "0.252",
    _HOURS,
    _VM,
    "Hours",
    resource_type_name="Virtual machine",
    additional='{"ServiceType":"Standard_E4s_v5","VCPUs":4,"UsageType":"ComputeHR"}',
)
# A third party's software on an Azure VM, billed through the Marketplace.
MARKETPLACE_USAGE_METER = Meter(
    "ngfw-license",
    "Microsoft.Compute",
    "Microsoft.Compute/virtualMachines",
    "Virtual Machine Licenses",
    "Northwind NGFW",
    "4 Core Hours",
    "Compute",
    "1 Hour",
    "0.12",
    (24 * QUANTITY_SCALE, 24 * QUANTITY_SCALE + 1),
    _VM,
    "Hours",
    resource_type_name="Virtual machine",
)
MARKETPLACE_USAGE_PUBLISHER = "Northwind Security Ltd"
SAAS_METER = Meter(
    "saas-plan",
    "Microsoft.SaaS",
    "Microsoft.SaaS/resources",
    "SaaS",
    "Fabrikam Data Cloud",
    "Standard Plan - Monthly",
    "Other",
    "1/Month",
    "250",
    (QUANTITY_SCALE, QUANTITY_SCALE + 1),
    ("Azure Marketplace", "Other", "Other (Other)", "SaaS"),
    "Units/Month",
    resource_type_name="SaaS",
)
SAAS_PUBLISHER = "Fabrikam Data Inc."
SAAS_REFUND = "-40"  # a credit, in USD, for last month's plan (this month's in the first month)
RESERVATION_METER = Meter(
    "reservation",
    "Microsoft.Capacity",
    "Microsoft.Capacity/reservationOrders/reservations",
    "",
    "",
    "",
    "Compute",
    "1 Hour",
    "0",
    (0, 1),
    ("Azure Reservations", "Management and Governance", "Cost Management", "IaaS"),
    "Hours",
    resource_type_name="Reservation",
)
SAVINGS_PLAN_PURCHASE_METER = Meter(
    "savings-plan",
    "Microsoft.BillingBenefits",
    "Microsoft.BillingBenefits/savingsPlanOrders/savingsPlans",
    "",
    "",
    "",
    "Compute",
    "1 Hour",
    "0",
    (0, 1),
    ("Azure Savings Plan for Compute", "Compute", "Other (Compute)", "IaaS"),
    "Hours",
    resource_type_name="Savings plan",
)

# Location spellings as resource providers report them, and what Cost Management normalises them to:
# ResourceLocation → (EA ResourceLocationNormalized / FOCUS RegionId, MCA `location`, FOCUS RegionName).
LOCATIONS = {
    "US East": ("eastus", "US East", "East US"),
    "eastus": ("eastus", "US East", "East US"),
    "EastUS": ("eastus", "US East", "East US"),
    "westeurope": ("westeurope", "EU West", "West Europe"),
    "West Europe": ("westeurope", "EU West", "West Europe"),
    "uksouth": ("uksouth", "UK South", "UK South"),
    "": ("", "", ""),
}
_TAG_VALUES = {"env": ["prod", "dev", "test"], "team": ["data", "web", "platform"], "cost-center": ["cc-100", "cc-200"]}


class Resource(NamedTuple):
    id: str
    name: str
    group: str
    subscription: Subscription
    location: str
    meter: Meter
    tags: dict


def _resource(subscription: Subscription, meter: Meter, name: str, location: str, tags: dict) -> Resource:
    group = f"rg-{name.split('-')[1] if '-' in name else name}-{subscription.name.split('-')[-1]}"
    namespace, *types = meter.resource_type.split("/")
    if len(types) == 1:
        path = f"{namespace}/{types[0]}/{name}"
    else:  # a child resource: servers/<server>/databases/<name>
        path = f"{namespace}/{types[0]}/{name}-server/{types[1]}/{name}"
    return Resource(
        f"/subscriptions/{subscription.id}/resourceGroups/{group}/providers/{path}",
        name,
        group,
        subscription,
        location,
        meter,
        tags,
    )


def _resources(scope: Scope) -> list[Resource]:
    """Three resources per usage meter, spread over the scope's subscriptions, locations and tags."""
    rng = random.Random(f"resources/{scope.key}")
    spellings = list(LOCATIONS)
    resources = []
    for m, meter in enumerate(USAGE_METERS):
        for i in range(3):
            subscription = scope.subscriptions[(m + i) % len(scope.subscriptions)]
            tags = {key: rng.choice(values) for key, values in _TAG_VALUES.items() if rng.random() < 0.7}
            name = f"{meter.key.split('-')[0]}-{meter.key.split('-')[-1]}-{i + 1:02d}"
            resources.append(_resource(subscription, meter, name, spellings[(m * 3 + i) % len(spellings)], tags))
    return resources


@dataclass(frozen=True)
class Commitment:
    """A reservation or a savings plan of one scope. Rates are USD per hour, chosen so that the MCA
    exchange rate converts each hour's amount exactly (multiples of 2000 units of 1e-10)."""

    kind: str  # "Reservation" or "SavingsPlan"
    order_id: str
    id: str
    name: str
    order_name: str
    hourly: int  # reservation: amortized rate per instance-hour; savings plan: hourly commitment
    instances: int = 1  # reservations: instances reserved

    @property
    def meter(self) -> Meter:
        """The meter of the commitment itself: its purchases, and the resource type of its ARM id."""
        return RESERVATION_METER if self.kind == "Reservation" else SAVINGS_PLAN_PURCHASE_METER

    @property
    def benefit_id(self) -> str:
        if self.kind == "Reservation":
            return f"/providers/Microsoft.Capacity/reservationOrders/{self.order_id}/reservations/{self.id}"
        return f"/providers/Microsoft.BillingBenefits/savingsPlanOrders/{self.order_id}/savingsPlans/{self.id}"


RESERVATION_RATE = "0.0584"  # D2s v3, 1 year upfront, per hour (on demand 0.096)
RESERVATION_INSTANCES = 2
SAVINGS_PLAN_COMMITMENT = "0.75"  # USD per hour, paid monthly
SAVINGS_PLAN_RATE = "0.1764"  # E4s v5 under the plan (on demand 0.252)
SAVINGS_PLAN_VMS = 4


def reservation(scope: Scope) -> Commitment:
    order = _uuid(scope.key, "reservation order")
    return Commitment(
        "Reservation",
        order,
        _uuid(scope.key, "reservation"),
        f"VM_RI_D2s_v3_{scope.key}",
        "Reserved VM Instance, Standard_D2s_v3, US East, 1 Year",
        _units(RESERVATION_RATE),
        RESERVATION_INSTANCES,
    )


def savings_plan(scope: Scope) -> Commitment:
    return Commitment(
        "SavingsPlan",
        _uuid(scope.key, "savings plan order"),
        _uuid(scope.key, "savings plan"),
        f"Compute_SavingsPlan_{scope.key}",
        "Compute savings plan, 1 Year",
        _units(SAVINGS_PLAN_COMMITMENT),
    )


# ---------------------------------------------------------------------------------------------------------------
# Charges: one month of one scope, day by day
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Charge:
    """One line of cost, before it is written as an EA, MCA or FOCUS row.

    `actual` is None when the actual dataset does not carry it (unused commitment), `amortized` None when
    the amortized one does not (commitment purchases). Both in billing-currency units; `*_pricing` in USD.
    """

    day: int
    charge_type: str
    frequency: str
    pricing_model: str  # OnDemand, Reservation, SavingsPlan, Spot, or "" (rounding)
    meter: Meter | None
    quantity: int
    unit_price: int  # USD per unit
    payg_price: int
    actual: int | None
    amortized: int | None
    actual_pricing: int | None
    amortized_pricing: int | None
    payg_cost: int  # list cost, USD
    resource: Resource | None = None
    subscription: Subscription | None = None
    resource_id: str = ""
    resource_name: str = ""
    commitment: Commitment | None = None
    publisher: str = ""  # third-party publisher: a Marketplace charge
    plan_name: str = ""
    term: str = ""
    previous_invoice: str = ""

    @property
    def effective_price(self) -> tuple[int, int]:
        """(actual, amortized) unit price actually paid: cost / quantity, 0 for covered usage in actual."""
        if not self.quantity:
            return (0, 0)

        def price(cost):
            return cost * QUANTITY_SCALE // self.quantity if cost is not None else 0

        return price(self.actual_pricing), price(self.amortized_pricing)


@dataclass
class CommitmentTotals:
    """One reservation's or savings plan's month in the amortized data (billing currency, 1e-10)."""

    amortized_units: int = 0  # the month's share of the commitment, from its rate and the days delivered
    used_units: int = 0  # Σ covered usage at the amortized rate
    unused_units: int = 0  # Σ UnusedReservation / UnusedSavingsPlan

    @property
    def amortized(self) -> Decimal:
        return _decimal(self.amortized_units)

    @property
    def used(self) -> Decimal:
        return _decimal(self.used_units)

    @property
    def unused(self) -> Decimal:
        return _decimal(self.unused_units)


@dataclass
class MonthTotals:
    """What one scope's month holds as one run delivered it, known from how it was built."""

    scope: str
    billing_account_id: str  # EA enrollment / MCA billing profile (FOCUS BillingAccountId per the toolkit)
    currency: str
    days: int  # days 1..days of the month delivered
    invoiced: bool
    actual_units: int = 0  # Σ CostInBillingCurrency of the actual dataset = Σ FOCUS BilledCost
    amortized_units: int = 0  # Σ CostInBillingCurrency of the amortized dataset = Σ FOCUS EffectiveCost
    actual_rows: int = 0
    amortized_rows: int = 0
    focus_rows: int = 0
    commitments: dict[str, CommitmentTotals] = field(default_factory=dict)  # by benefitId

    @property
    def actual(self) -> Decimal:
        return _decimal(self.actual_units)

    @property
    def amortized(self) -> Decimal:
        return _decimal(self.amortized_units)


class _ScopeMonth:
    """The charges of one scope's month, days 1..`days`, generated day by day from fixed seeds."""

    def __init__(
        self,
        scope: Scope,
        month: date,
        *,
        days: int,
        rows: int,
        invoiced: bool,
        term_start: date,
        revision: int,
        seed: int,
    ):
        self.scope, self.month, self.days, self.invoiced = scope, month, days, invoiced
        self.term_start, self.revision, self.seed = term_start, revision, seed
        self.resources = _resources(scope)
        self.reservation, self.savings_plan = reservation(scope), savings_plan(scope)
        self.random_per_day = max(rows // month_days(month) - 7, 1)  # ~7 fixed rows a day
        self.totals = MonthTotals(scope.key, scope.focus_billing_account_id, scope.billing_currency, days, invoiced)
        for commitment in (self.reservation, self.savings_plan):
            self.totals.commitments[commitment.benefit_id] = CommitmentTotals()

    def invoice_id(self, month: date) -> str:
        return f"G0{_digits(8, self.scope.key, month):08d}" if self.scope.agreement == "MCA" else ""

    def charges(self) -> Iterator[Charge]:
        for day in range(1, self.days + 1):
            yield from self._day(day)
        if self.invoiced:
            yield self._rounding()

    def _record(self, charge: Charge) -> Charge:
        totals = self.totals
        if charge.actual is not None:
            totals.actual_units += charge.actual
            totals.actual_rows += 1
        if charge.amortized is not None:
            totals.amortized_units += charge.amortized
            totals.amortized_rows += 1
            if charge.commitment is not None and charge.charge_type != "Purchase":
                part = totals.commitments[charge.commitment.benefit_id]
                if charge.charge_type == "Usage":
                    part.used_units += charge.amortized
                else:
                    part.unused_units += charge.amortized
        totals.focus_rows += 1
        return charge

    def _priced(self, meter: Meter, quantity: int, price: int, payg: int, **kwargs) -> Charge:
        """On-demand (or spot) usage: actual = amortized = quantity × price."""
        cost = _times(quantity, price)
        billing = self.scope.to_billing(cost)
        kwargs.setdefault("charge_type", "Usage")
        kwargs.setdefault("frequency", "UsageBased")
        kwargs.setdefault("pricing_model", "OnDemand")
        return Charge(
            meter=meter,
            quantity=quantity,
            unit_price=price,
            payg_price=payg,
            actual=billing,
            amortized=billing,
            actual_pricing=cost,
            amortized_pricing=cost,
            payg_cost=_times(quantity, payg),
            **kwargs,
        )

    def _contract_price(self, meter: Meter) -> tuple[int, int]:
        """(negotiated, list) price per unit of the scope's UnitOfMeasure: EA prices are 10% off list."""
        payg = _units(meter.payg)
        if self.scope.agreement == "MCA" and meter.mca_unit:
            payg //= meter.mca_unit[1]
        return (payg * 9 // 10 if self.scope.agreement == "EA" else payg), payg

    def _day(self, day: int) -> Iterator[Charge]:
        rng = random.Random(f"{self.seed}/{self.scope.key}/{self.month}/{day}/{self.revision}")
        for _ in range(self.random_per_day):
            resource = rng.choice(self.resources)
            meter = resource.meter
            low, high = meter.quantity
            quantity = rng.randrange(low, high)
            if self.scope.agreement == "MCA" and meter.mca_unit:
                quantity *= meter.mca_unit[1]
            price, payg = self._contract_price(meter)
            yield self._record(self._priced(meter, quantity, price, payg, day=day, resource=resource))
        yield from self._reservation_day(day)
        yield from self._savings_plan_day(day)
        yield self._record(self._spot(day))
        yield self._record(self._marketplace_usage(day))
        if day == 1:
            if self.month == self.term_start:
                yield self._record(self._commitment_purchase(self.reservation, day))
            yield self._record(self._commitment_purchase(self.savings_plan, day))
            yield self._record(self._saas(day, "Purchase"))
        if day == 3:
            yield self._record(self._saas(day, "Refund"))

    def _vm(self, meter: Meter, subscription: Subscription, name: str, location: str) -> Resource:
        return _resource(subscription, meter, name, location, {"env": "prod", "team": "platform"})

    def _covered(self, commitment: Commitment, resource: Resource, day: int, hours: int, rate: int) -> Charge:
        """Usage a commitment covers: 0 in the actual data, `rate` per hour in the amortized data."""
        pricing = hours * rate
        price, payg = self._contract_price(resource.meter)
        return Charge(
            day=day,
            charge_type="Usage",
            frequency="UsageBased",
            pricing_model=commitment.kind,
            meter=resource.meter,
            quantity=hours * QUANTITY_SCALE,
            unit_price=price,
            payg_price=payg,
            actual=0,
            amortized=self.scope.to_billing(pricing),
            actual_pricing=0,
            amortized_pricing=pricing,
            payg_cost=hours * payg,
            resource=resource,
            commitment=commitment,
            term="12",
        )

    def _unused(self, commitment: Commitment, meter: Meter, day: int, quantity: int, pricing: int, billing: int):
        """The unused part of a commitment's day: amortized data only, and no subscription."""
        return Charge(
            day=day,
            charge_type="Unused" + commitment.kind,
            frequency="UsageBased",
            pricing_model=commitment.kind,
            meter=meter,
            quantity=quantity,
            unit_price=0,
            payg_price=0,
            actual=None,
            amortized=billing,
            actual_pricing=None,
            amortized_pricing=pricing,
            payg_cost=0,
            resource_id=commitment.benefit_id,
            resource_name=commitment.name,
            commitment=commitment,
            term="12",
        )

    def _reservation_day(self, day: int) -> Iterator[Charge]:
        """Two reserved D2s v3: the first runs all day, the second stops 6 hours every fourth day."""
        commitment = self.reservation
        subscription = self.scope.subscriptions[0]
        used_hours = 0
        for instance in range(commitment.instances):
            hours = 18 if instance == 1 and day % 4 == 0 else 24
            used_hours += hours
            vm = self._vm(RESERVED_METER, subscription, f"vm-reserved-{instance + 1:02d}", "eastus")
            yield self._record(self._covered(commitment, vm, day, hours, commitment.hourly))
        reserved_hours = 24 * commitment.instances
        self.totals.commitments[commitment.benefit_id].amortized_units += self.scope.to_billing(
            reserved_hours * commitment.hourly
        )
        unused_hours = reserved_hours - used_hours
        if unused_hours:
            pricing = unused_hours * commitment.hourly
            yield self._record(
                self._unused(
                    commitment,
                    RESERVED_METER,
                    day,
                    unused_hours * QUANTITY_SCALE,
                    pricing,
                    self.scope.to_billing(pricing),
                )
            )

    def _savings_plan_day(self, day: int) -> Iterator[Charge]:
        """Four E4s v5 under the plan; one runs half the day every third day. The plan's day is 24 hours
        of commitment; what the covered usage leaves is unused (in billing currency, so the two add up)."""
        commitment = self.savings_plan
        subscription = self.scope.subscriptions[-1]
        rate = _units(SAVINGS_PLAN_RATE)
        used_pricing = used_billing = 0
        for vm in range(SAVINGS_PLAN_VMS):
            hours = 12 if vm == 0 and day % 3 == 0 else 24
            resource = self._vm(SAVINGS_PLAN_METER, subscription, f"vm-plan-{vm + 1:02d}", "US East")
            charge = self._covered(commitment, resource, day, hours, rate)
            used_pricing += charge.amortized_pricing
            used_billing += charge.amortized
            yield self._record(charge)
        day_pricing = 24 * commitment.hourly
        day_billing = self.scope.to_billing(day_pricing)
        self.totals.commitments[commitment.benefit_id].amortized_units += day_billing
        if day_billing > used_billing:
            unused_pricing = day_pricing - used_pricing
            yield self._record(
                self._unused(
                    commitment,
                    SAVINGS_PLAN_METER,
                    day,
                    unused_pricing * QUANTITY_SCALE // SCALE,  # the unused amount, in USD
                    unused_pricing,
                    day_billing - used_billing,
                )
            )

    def _commitment_purchase(self, commitment: Commitment, day: int) -> Charge:
        """The reservation's upfront payment (its first month), the savings plan's monthly payment:
        actual data only, and no usage-based price."""
        meter = commitment.meter
        if commitment.kind == "Reservation":
            quantity, frequency = commitment.instances, "OneTime"
            pricing = 8760 * commitment.instances * commitment.hourly
        else:
            quantity, frequency = 1, "Recurring"
            pricing = month_days(self.month) * 24 * commitment.hourly
        return Charge(
            day=day,
            charge_type="Purchase",
            frequency=frequency,
            pricing_model=commitment.kind,
            meter=meter,
            quantity=quantity * QUANTITY_SCALE,
            unit_price=pricing // quantity,
            payg_price=0,
            actual=self.scope.to_billing(pricing),
            amortized=None,
            actual_pricing=pricing,
            amortized_pricing=None,
            payg_cost=0,
            subscription=self.scope.subscriptions[0],
            resource_id=commitment.benefit_id,
            resource_name=commitment.name,
            commitment=commitment,
            term="12",
        )

    def _spot(self, day: int) -> Charge:
        resource = self._vm(SPOT_METER, self.scope.subscriptions[-1], "vm-batch-spot-01", "westeurope")
        price = _units(SPOT_METER.payg)
        return self._priced(
            SPOT_METER, 24 * QUANTITY_SCALE, price, _units("0.192"), day=day, resource=resource, pricing_model="Spot"
        )

    def _marketplace_usage(self, day: int) -> Charge:
        resource = self._vm(MARKETPLACE_USAGE_METER, self.scope.subscriptions[0], "vm-ngfw-01", "uksouth")
        price = _units(MARKETPLACE_USAGE_METER.payg)
        return self._priced(
            MARKETPLACE_USAGE_METER,
            24 * QUANTITY_SCALE,
            price,
            price,
            day=day,
            resource=resource,
            publisher=MARKETPLACE_USAGE_PUBLISHER,
            plan_name="ngfw-4core",
        )

    def _saas(self, day: int, charge_type: str) -> Charge:
        """The SaaS plan's monthly purchase; on day 3 a refund of part of last month's (this month's at first)."""
        subscription = self.scope.subscriptions[0]
        resource = _resource(subscription, SAAS_METER, "saas-fabrikam-datacloud", "", {"team": "data"})
        refund = charge_type == "Refund"
        price = _units(SAAS_REFUND) if refund else _units(SAAS_METER.payg)
        refunded_month = _previous_month(self.month) if refund and self.month > self.term_start else self.month
        previous = self.invoice_id(refunded_month) if refund and (refunded_month < self.month or self.invoiced) else ""
        return self._priced(
            SAAS_METER,
            QUANTITY_SCALE,
            price,
            price,
            day=day,
            resource=resource,
            charge_type=charge_type,
            frequency="OneTime" if refund else "Recurring",
            publisher=SAAS_PUBLISHER,
            plan_name="standard-monthly",
            term="1",
            previous_invoice=previous,
        )

    def _rounding(self) -> Charge:
        """The invoice's rounding, in billing currency: no meter, no resource, no subscription."""
        billing = -(_digits(2, "rounding", self.scope.key, self.month) + 1) * 10**6  # -0.0001 to -0.01
        return self._record(
            Charge(
                day=month_days(self.month),
                charge_type="RoundingAdjustment",
                frequency="OneTime",
                pricing_model="",
                meter=None,
                quantity=0,
                unit_price=0,
                payg_price=0,
                actual=billing,
                amortized=billing,
                actual_pricing=billing,
                amortized_pricing=billing,
                payg_cost=0,
            )
        )


# ---------------------------------------------------------------------------------------------------------------
# Rows: a charge as an EA, MCA or FOCUS line
# ---------------------------------------------------------------------------------------------------------------


def _ea_date(day: date) -> str:
    return f"{day:%m/%d/%Y}"


def _ea_tags(tags: dict) -> str:
    """EA's tag form: the JSON object's members without the braces."""
    return ",".join(f'"{key}": "{value}"' for key, value in tags.items())


def _subscription_of(charge: Charge) -> Subscription | None:
    """A resource's subscription, a purchase's buyer; none for unused commitment and rounding."""
    return charge.resource.subscription if charge.resource else charge.subscription


def _meter_id(meter: Meter | None) -> str:
    return _uuid("meter", meter.key) if meter and meter.name else ""


def _part_number(meter: Meter | None) -> str:
    return f"AAA-{_digits(5, 'part', meter.key):05d}" if meter and meter.name else ""


def _product_name(charge: Charge) -> str:
    meter = charge.meter
    if charge.commitment is not None and charge.charge_type == "Purchase":
        return charge.commitment.order_name
    if meter is None:
        return ""
    if charge.publisher:
        return f"{meter.subcategory} - {meter.name}"
    region = LOCATIONS[charge.resource.location][1] if charge.resource else ""
    return " - ".join(part for part in (f"{meter.category} {meter.subcategory}".strip(), meter.name, region) if part)


def _location(charge: Charge) -> str:
    return charge.resource.location if charge.resource else ""


def _common(charge: Charge, scope: Scope, dataset: str) -> dict:
    """The values EA and MCA share, by concept; `dataset` is "actual" or "amortized"."""
    meter = charge.meter
    commitment = charge.commitment
    actual_price, amortized_price = charge.effective_price
    subscription = _subscription_of(charge)
    publisher_type = "Marketplace" if charge.publisher else ("Azure" if scope.agreement == "EA" else "Microsoft")
    publisher = charge.publisher or "Microsoft"
    resource = charge.resource
    unit = meter.unit if meter else ""
    if scope.agreement == "MCA" and meter and meter.mca_unit:
        unit = meter.mca_unit[0]
    pricing_model = charge.pricing_model
    if pricing_model == "OnDemand" and scope.agreement == "MCA":
        pricing_model = "On Demand"
    # A row that names the commitment as its resource (unused hours) is the commitment's service's.
    names_commitment = commitment is not None and resource is None
    return {
        "consumed_service": (commitment.meter if names_commitment else meter).consumed_service if meter else "",
        "resource_meter": commitment.meter if names_commitment else meter,
        "subscription": subscription,
        "resource_group": resource.group if resource else "",
        "location": _location(charge),
        "product": _product_name(charge),
        "meter": meter,
        "meter_id": _meter_id(meter),
        "meter_region": LOCATIONS[_location(charge)][1] if meter and meter.name else "",
        "unit": unit,
        "quantity": _decimal(charge.quantity, QUANTITY_SCALE),
        "effective_price": _decimal(actual_price if dataset == "actual" else amortized_price),
        "cost": charge.actual if dataset == "actual" else charge.amortized,
        "cost_pricing": charge.actual_pricing if dataset == "actual" else charge.amortized_pricing,
        "resource_id": resource.id if resource else charge.resource_id,
        "resource_name": resource.name if resource else charge.resource_name,
        "tags": resource.tags if resource else {},
        "additional": meter.additional if meter else "",
        "reservation_id": commitment.id if commitment and commitment.kind == "Reservation" else "",
        "reservation_name": commitment.name if commitment and commitment.kind == "Reservation" else "",
        "order_id": commitment.order_id if commitment else "",
        "order_name": commitment.order_name if commitment else "",
        "publisher_type": publisher_type,
        "publisher": publisher,
        "pricing_model": pricing_model,
        "benefit_id": commitment.benefit_id if commitment else "",
        "benefit_name": commitment.name if commitment else "",
    }


def _ea_row(charge: Charge, scope: Scope, month: date, dataset: str) -> dict:
    c = _common(charge, scope, dataset)
    subscription, meter = c["subscription"], c["meter"]
    return {
        "InvoiceSectionName": subscription.department if subscription else "",
        "AccountName": subscription.account if subscription else "",
        "AccountOwnerId": f"{subscription.account.split()[0].lower()}@contoso.com" if subscription else "",
        "SubscriptionId": subscription.id if subscription else "",
        "SubscriptionName": subscription.name if subscription else "",
        "ResourceGroup": c["resource_group"],
        "ResourceLocation": c["location"],
        "Date": _ea_date(month.replace(day=charge.day)),
        "ProductName": c["product"],
        "MeterCategory": meter.category if meter else "",
        "MeterSubCategory": meter.subcategory if meter else "",
        "MeterId": c["meter_id"],
        "MeterName": meter.name if meter else "",
        "MeterRegion": c["meter_region"],
        "UnitOfMeasure": c["unit"],
        "Quantity": c["quantity"],
        "EffectivePrice": c["effective_price"],
        "CostInBillingCurrency": _decimal(c["cost"]),
        "CostCenter": subscription.cost_center if subscription else "",
        "ConsumedService": c["consumed_service"],
        "ResourceId": c["resource_id"],
        "Tags": _ea_tags(c["tags"]),
        "OfferId": "MS-AZR-0017P" if subscription else "",
        "AdditionalInfo": c["additional"],
        "ServiceInfo1": "",
        "ServiceInfo2": "",
        "ResourceName": c["resource_name"],
        "ReservationId": c["reservation_id"],
        "ReservationName": c["reservation_name"],
        "UnitPrice": _decimal(charge.unit_price),
        "ProductOrderId": c["order_id"],
        "ProductOrderName": c["order_name"],
        "Term": charge.term,
        "PublisherType": c["publisher_type"],
        "PublisherName": c["publisher"],
        "ChargeType": charge.charge_type,
        "Frequency": charge.frequency,
        "PricingModel": c["pricing_model"],
        "AvailabilityZone": "",
        "BillingAccountId": scope.billing_account_id,
        "BillingAccountName": scope.billing_account_name,
        "BillingCurrencyCode": scope.billing_currency,
        "BillingPeriodStartDate": _ea_date(month),
        "BillingPeriodEndDate": _ea_date(month.replace(day=month_days(month))),
        "BillingProfileId": scope.billing_profile_id,
        "BillingProfileName": scope.billing_profile_name,
        "InvoiceSectionId": _uuid(scope.key, "department", subscription.department)[:8] if subscription else "",
        "IsAzureCreditEligible": "False" if charge.publisher else "True",
        "PartNumber": _part_number(meter),
        "PayGPrice": _decimal(charge.payg_price),
        "PlanName": charge.plan_name,
        "ServiceFamily": meter.family if meter else "",
        "CostAllocationRuleName": "",
        "benefitId": c["benefit_id"],
        "benefitName": c["benefit_name"],
        "AccountId": str(_digits(6, scope.key, subscription.account)) if subscription else "",
        "ResourceLocationNormalized": LOCATIONS[c["location"]][0],
    }


def _mca_row(charge: Charge, scope: Scope, month: date, dataset: str, invoice_id: str) -> dict:
    c = _common(charge, scope, dataset)
    subscription, meter = c["subscription"], c["meter"]
    cost_pricing = c["cost_pricing"]
    last_day = month.replace(day=month_days(month)).isoformat()
    return {
        "invoiceId": invoice_id,
        "previousInvoiceId": charge.previous_invoice,
        "billingAccountId": scope.billing_account_id,
        "billingAccountName": scope.billing_account_name,
        "billingProfileId": scope.billing_profile_id,
        "billingProfileName": scope.billing_profile_name,
        "invoiceSectionId": _uuid(scope.key, "invoice section", subscription.department)[:18].upper()
        if subscription
        else "",
        "invoiceSectionName": subscription.department if subscription else "",
        "resellerName": "",
        "resellerMpnId": "",
        "costCenter": subscription.cost_center if subscription else "",
        "billingPeriodEndDate": last_day,
        "billingPeriodStartDate": month.isoformat(),
        "servicePeriodEndDate": last_day,
        "servicePeriodStartDate": month.isoformat(),
        "date": month.replace(day=charge.day).isoformat(),
        "serviceFamily": meter.family if meter else "",
        "productOrderId": c["order_id"],
        "productOrderName": c["order_name"],
        "consumedService": c["consumed_service"],
        "meterId": c["meter_id"],
        "meterName": meter.name if meter else "",
        "meterCategory": meter.category if meter else "",
        "meterSubCategory": meter.subcategory if meter else "",
        "meterRegion": c["meter_region"],
        "ProductId": f"DZH318Z0{_digits(4, 'product', meter.key):04d}" if meter and meter.name else "",
        "ProductName": c["product"],
        "SubscriptionId": subscription.id if subscription else "",
        "subscriptionName": subscription.name if subscription else "",
        "publisherType": c["publisher_type"],
        "publisherId": _uuid("publisher", charge.publisher)[:8] if charge.publisher and invoice_id else "",
        "publisherName": c["publisher"],
        "resourceGroupName": c["resource_group"],
        "ResourceId": c["resource_id"],
        "resourceLocation": c["location"],
        "location": LOCATIONS[c["location"]][1],
        "effectivePrice": c["effective_price"],
        "quantity": c["quantity"],
        "unitOfMeasure": c["unit"],
        "chargeType": charge.charge_type,
        "billingCurrency": scope.billing_currency,
        "pricingCurrency": "USD",
        "costInBillingCurrency": _decimal(c["cost"]),
        "costInPricingCurrency": _decimal(cost_pricing),
        "costInUsd": _decimal(cost_pricing),
        "paygCostInBillingCurrency": _decimal(scope.to_billing(charge.payg_cost)),
        "paygCostInUsd": _decimal(charge.payg_cost),
        "exchangeRatePricingToBilling": Decimal(scope.exchange_rate),
        "exchangeRateDate": month.isoformat(),
        "isAzureCreditEligible": "False" if charge.publisher else "True",
        "serviceInfo1": "",
        "serviceInfo2": "",
        "additionalInfo": c["additional"],
        "tags": json.dumps(c["tags"]) if c["tags"] else "",
        "PayGPrice": _decimal(charge.payg_price),
        "frequency": charge.frequency,
        "term": charge.term,
        "reservationId": c["reservation_id"],
        "reservationName": c["reservation_name"],
        "pricingModel": c["pricing_model"],
        "unitPrice": _decimal(charge.unit_price),
        "costAllocationRuleName": "",
        "benefitId": c["benefit_id"],
        "benefitName": c["benefit_name"],
        "provider": "Azure",
    }


_CHARGE_CATEGORY = {
    "Usage": "Usage",
    "UnusedReservation": "Usage",
    "UnusedSavingsPlan": "Usage",
    "Purchase": "Purchase",
    "Refund": "Purchase",
}
_PRICING_CATEGORY = {"OnDemand": "Standard", "Spot": "Dynamic", "Reservation": "Committed", "SavingsPlan": "Committed"}
_CHARGE_FREQUENCY = {"UsageBased": "Usage-Based", "OneTime": "One-Time", "Recurring": "Recurring"}


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _focus_row(charge: Charge, scope: Scope, month: date, invoice_id: str) -> dict:
    """The charge as Cost Management's FocusCost export writes it (both datasets in one row)."""
    c = _common(charge, scope, "amortized")
    subscription, meter, commitment = c["subscription"], c["meter"], charge.commitment
    billed = charge.actual or 0
    effective = charge.amortized or 0
    billed_usd = charge.actual_pricing or 0
    effective_usd = charge.amortized_pricing or 0
    category = _CHARGE_CATEGORY.get(charge.charge_type, "Adjustment")
    unused = charge.charge_type.startswith("Unused")
    consumed = category == "Usage" and not unused
    day = month.replace(day=charge.day)
    region_id, _, region_name = LOCATIONS[c["location"]]
    priced = charge.unit_price > 0 or charge.payg_price > 0
    list_cost = scope.to_billing(charge.payg_cost) if priced else billed or effective
    contracted_usd = _times(charge.quantity, charge.unit_price) if priced else billed_usd or effective_usd
    block = meter.block if meter and not (meter.mca_unit and scope.agreement == "MCA") else 1
    status = None
    if commitment is not None and charge.charge_type != "Purchase":
        status = "Unused" if unused else "Used"
    reserved = commitment is not None and commitment.kind == "Reservation"
    commitment_quantity = None
    if commitment is not None:  # reservations count hours, savings plans USD
        commitment_quantity = (
            _decimal(charge.quantity, QUANTITY_SCALE) if reserved else _decimal(billed_usd or effective_usd)
        )
    return {
        "BilledCost": _decimal(billed),
        "BillingAccountId": scope.resource_id,
        "BillingAccountName": scope.billing_profile_name,
        "BillingAccountType": "Billing Profile" if scope.agreement == "MCA" else "Billing Account",
        "BillingCurrency": scope.billing_currency,
        "BillingPeriodEnd": _at(_next_month(month)),
        "BillingPeriodStart": _at(month),
        "ChargeCategory": category,
        "ChargeClass": "Correction" if charge.charge_type == "Refund" else None,
        "ChargeDescription": c["product"] or charge.charge_type,
        "ChargeFrequency": _CHARGE_FREQUENCY[charge.frequency],
        "ChargePeriodEnd": _at(day + timedelta(days=1)),
        "ChargePeriodStart": _at(day),
        "CommitmentDiscountCategory": ("Usage" if reserved else "Spend") if commitment else None,
        "CommitmentDiscountId": c["benefit_id"] or None,
        "CommitmentDiscountName": c["benefit_name"] or None,
        "CommitmentDiscountQuantity": commitment_quantity,
        "CommitmentDiscountStatus": status,
        "CommitmentDiscountType": ("Reservation" if reserved else "Savings Plan") if commitment else None,
        "CommitmentDiscountUnit": ("Hours" if reserved else "USD") if commitment else None,
        "ConsumedQuantity": c["quantity"] if consumed else None,
        "ConsumedUnit": meter.focus_unit if consumed else None,
        "ContractedCost": _decimal(scope.to_billing(contracted_usd)),
        "ContractedUnitPrice": _decimal(charge.unit_price) if priced else None,
        "EffectiveCost": _decimal(effective),
        "InvoiceId": invoice_id or None,
        "x_InvoiceId": invoice_id or None,
        "InvoiceIssuerName": "Microsoft",
        "ListCost": _decimal(list_cost),
        "ListUnitPrice": _decimal(charge.payg_price) if priced else None,
        "PricingCategory": _PRICING_CATEGORY.get(charge.pricing_model),
        "PricingCurrency": "USD",
        "x_PricingCurrency": "USD",
        "PricingQuantity": c["quantity"] if meter else None,
        "PricingUnit": meter.focus_unit if meter else None,
        "ProviderName": "Microsoft",
        "PublisherName": c["publisher"],
        "RegionId": region_id or None,
        "RegionName": region_name or None,
        "ResourceId": c["resource_id"] or None,
        "ResourceName": c["resource_name"] or None,
        "ResourceType": c["resource_meter"].resource_type_name if meter else None,
        "ServiceCategory": meter.service[1] if meter else None,
        "ServiceName": meter.service[0] if meter else None,
        "ServiceSubcategory": meter.service[2] if meter else None,
        "SkuId": _part_number(meter) or None,
        "SkuMeter": meter.name if meter and meter.name else None,
        "SkuPriceDetails": _sku_price_details(meter),
        "SkuPriceId": f"{_part_number(meter)}_{c['meter_id']}" if meter and meter.name else None,
        "SubAccountId": f"/subscriptions/{subscription.id}" if subscription else None,
        "SubAccountName": subscription.name if subscription else None,
        "SubAccountType": "Subscription" if subscription else None,
        "Tags": json.dumps(c["tags"], separators=(",", ":")),
        "x_AmortizationClass": ("Principal" if charge.charge_type == "Purchase" else "Amortized Charge")
        if commitment
        else None,
        "x_BilledCostInUsd": _decimal(billed_usd),
        "x_BilledUnitPrice": _decimal(charge.effective_price[0]),
        "x_BillingAccountId": scope.billing_account_id,
        "x_BillingAccountName": scope.billing_account_name,
        "x_BillingExchangeRate": Decimal(scope.exchange_rate),
        "x_BillingExchangeRateDate": _at(month),
        "x_BillingProfileId": scope.billing_profile_id,
        "x_BillingProfileName": scope.billing_profile_name,
        "x_ContractedCostInUsd": _decimal(contracted_usd),
        "x_CostCenter": subscription.cost_center if subscription else None,
        "x_EffectiveCostInUsd": _decimal(effective_usd),
        "x_EffectiveUnitPrice": _decimal(charge.effective_price[1]),
        "x_InvoiceSectionName": subscription.department if subscription else None,
        "x_ListCostInUsd": _decimal(charge.payg_cost if priced else billed_usd or effective_usd),
        "x_PricingBlockSize": Decimal(block) if meter else None,
        "x_PricingUnitDescription": c["unit"] or None,
        "x_PublisherCategory": "Vendor" if charge.publisher else "Cloud Provider",
        "x_ResourceGroupName": c["resource_group"] or None,
        "x_ResourceType": c["resource_meter"].resource_type if meter else None,
        "x_ServiceModel": meter.service[3] if meter else None,
        "x_ServicePeriodEnd": _at(_next_month(month)),
        "x_ServicePeriodStart": _at(month),
        "x_SkuDetails": (meter.additional or None) if meter else None,
        "x_SkuIsCreditEligible": not charge.publisher,
        "x_SkuMeterCategory": (meter.category or None) if meter else None,
        "x_SkuMeterId": c["meter_id"] or None,
        "x_SkuMeterName": (meter.name or None) if meter else None,
        "x_SkuMeterSubcategory": (meter.subcategory or None) if meter else None,
        "x_SkuOfferId": None,
        "x_SkuOrderId": c["order_id"] or None,
        "x_SkuOrderName": c["order_name"] or None,
        "x_SkuPartNumber": _part_number(meter) or None,
        "x_SkuPlanName": charge.plan_name or None,
        "x_SkuRegion": c["meter_region"] or None,
        "x_SkuServiceFamily": meter.family if meter else None,
        "x_SkuTerm": int(charge.term) if charge.term else None,
    }


def _sku_price_details(meter: Meter | None) -> str | None:
    """FOCUS 1.2's SkuPriceDetails: the SKU's properties, keys prefixed x_ as the toolkit does."""
    if not meter or not meter.additional:
        return None
    return json.dumps({f"x_{key}": value for key, value in json.loads(meter.additional).items()}, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------------
# Exports, parts and manifests
# ---------------------------------------------------------------------------------------------------------------

MANIFEST_CURRENT = "2024-04-01"
MANIFEST_OLDER = "2023-07-01-preview"  # API version of the exports that wrote no manifestVersion
_EXPORT_TYPES = {"actual": "ActualCost", "amortized": "AmortizedCost", "focus": "FocusCost"}
_FILE_FORMATS = {
    "csv": ("Csv", "None", ".csv"),
    "csv.gz": ("Csv", "Gzip", ".csv.gz"),
    "parquet": ("Parquet", "Snappy", ".snappy.parquet"),
}


@dataclass(frozen=True)
class ExportSpec:
    """One Cost Management export: its scope, dataset and delivery settings."""

    name: str
    scope: Scope
    dataset: str  # "actual", "amortized" or "focus"
    file_format: str = "csv"  # "csv", "csv.gz" or "parquet"
    data_version: str = (
        ""  # default: the scope's current schema (EA 2024-08-01, MCA 2023-12-01-preview, FOCUS 1.2-preview)
    )
    overwrite: bool = True  # OverwritePreviousReport; False: CreateNewReport, every run kept
    manifest_version: str | None = MANIFEST_CURRENT  # None: the older manifest shape
    bom: bool = False  # a UTF-8 byte order mark before the CSV header
    export_time_folder: bool = False  # an extra <YYYYMMDDHHMM>/ level before the run id

    @property
    def version(self) -> str:
        if self.data_version:
            return self.data_version
        if self.dataset == "focus":
            return "1.2-preview"
        return "2024-08-01" if self.scope.agreement == "EA" else "2023-12-01-preview"

    @property
    def format(self) -> str:
        """The `finops_azure_exports` format of this export."""
        if self.dataset == "focus":
            return "focus1.2" if self.version.startswith("1.2") else "focus1.0"
        return self.dataset

    @property
    def columns(self) -> list[str]:
        if self.dataset == "focus":
            return FOCUS_1_2_COLUMNS if self.version.startswith("1.2") else FOCUS_1_0_COLUMNS
        return EA_COLUMNS if self.scope.agreement == "EA" else MCA_COLUMNS

    def row(self, charge: Charge, month: date, invoice_id: str) -> dict | None:
        """The charge as a row of this export, or None when its dataset does not carry it."""
        if self.dataset == "focus":
            return _focus_row(charge, self.scope, month, invoice_id)
        if (charge.actual if self.dataset == "actual" else charge.amortized) is None:
            return None
        if self.scope.agreement == "EA":
            return _ea_row(charge, self.scope, month, self.dataset)
        return _mca_row(charge, self.scope, month, self.dataset, invoice_id)


# The demo's exports: every scope, dataset, file format, manifest shape and overwrite behaviour at least once.
DEMO_EXPORTS = (
    ExportSpec("ea-actual", EA_SCOPE, "actual", "csv", bom=True),
    ExportSpec("ea-amortized", EA_SCOPE, "amortized", "csv.gz", export_time_folder=True),
    ExportSpec("mca-actual", MCA_SCOPE, "actual", "parquet", overwrite=False),
    ExportSpec("mca-amortized", MCA_SCOPE, "amortized", "csv", overwrite=False, manifest_version=None),
    ExportSpec("focus-cost", FOCUS_SCOPE, "focus", "parquet"),
    ExportSpec("focus-cost-1-0r2", FOCUS_SCOPE, "focus", "csv.gz", data_version="1.0r2", overwrite=False),
)


@dataclass
class Delivery:
    """One run of one export for one month, as written; paths relative to the container's mirror (blob names)."""

    export: str
    month: date
    run_id: str
    submitted_time: str
    folder: str
    manifest: str
    files: list[str]
    rows_per_file: dict[str, int]
    totals: MonthTotals  # the scope's month as far as this run delivered it

    @property
    def rows(self) -> int:
        return sum(self.rows_per_file.values())


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _zero(value):
    """Falsy values that are data (0, False) stay; an empty text becomes None."""
    return None if value == "" or value is None else value


def _focus_1_0_text(value) -> str:
    """FocusCost 1.0 wrote times without seconds; 1.0r2 and later with them."""
    return value.strftime("%Y-%m-%dT%H:%MZ") if isinstance(value, datetime) else _csv_text(value)


class _PartWriter:
    """Streams rows into part_0_0001.<ext>, part_0_0002.<ext>, ... of at most `part_rows` rows each."""

    def __init__(self, folder: Path, export: ExportSpec, part_rows: int):
        self.folder, self.export, self.part_rows = folder, export, part_rows
        self.columns = export.columns
        self.parts: dict[str, int] = {}  # file name → rows
        self.batch: list[dict] = []
        self._file = self._csv = self._parquet = None
        self._rows_in_part = 0
        self._schema = self._schema_for(export) if export.file_format == "parquet" else None

    @staticmethod
    def _schema_for(export: ExportSpec) -> pa.Schema:
        if export.dataset == "focus":
            decimals, times = FOCUS_DECIMAL_COLUMNS, FOCUS_DATETIME_COLUMNS
        else:
            decimals, times = (EA_DECIMAL_COLUMNS if export.scope.agreement == "EA" else MCA_DECIMAL_COLUMNS), set()
        fields = []
        for name in export.columns:
            if name in decimals:
                kind = PARQUET_DECIMAL
            elif name in times:
                kind = pa.timestamp("us", tz="UTC")
            elif name == "x_SkuTerm":
                kind = pa.int64()
            elif name == "x_SkuIsCreditEligible":
                kind = pa.bool_()
            else:
                kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def add(self, row: dict) -> None:
        if self._rows_in_part >= self.part_rows or not self.parts:
            self._open_next()
        self._rows_in_part += 1
        self.parts[next(reversed(self.parts))] += 1
        self.batch.append(row)
        if len(self.batch) >= 1_000:
            self._flush()

    def _open_next(self) -> None:
        self.close()
        _, _, extension = _FILE_FORMATS[self.export.file_format]
        name = f"part_0_{len(self.parts) + 1:04d}{extension}"
        self.parts[name] = 0
        self._rows_in_part = 0
        path = self.folder / name
        if self.export.file_format == "parquet":
            self._parquet = pq.ParquetWriter(path, self._schema, compression="snappy")
            return
        raw = path.open("wb")
        # mtime 0 and no file name inside the gzip header: the same rows give the same bytes
        stream = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if self.export.file_format == "csv.gz" else raw
        )
        self._file = (raw, stream)
        text = io.TextIOWrapper(stream, encoding="utf-8-sig" if self.export.bom else "utf-8", newline="")
        self._csv = (text, csv.writer(text, lineterminator="\n"))
        self._csv[1].writerow(self.columns)

    def _flush(self) -> None:
        if not self.batch:
            return
        if self._parquet is not None:
            # a value the CSV leaves empty is missing (null) in Parquet
            columns = {name: [row.get(name) or _zero(row.get(name)) for row in self.batch] for name in self.columns}
            self._parquet.write_table(pa.table(columns, schema=self._schema))
        else:
            text_of = _focus_1_0_text if self.export.version in ("1.0", "1.0-preview(v1)") else _csv_text
            self._csv[1].writerows(
                [value if value.__class__ is str else text_of(value) for value in map(row.get, self.columns)]
                for row in self.batch
            )
        self.batch = []

    def close(self) -> None:
        self._flush()
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            text, _ = self._csv
            text.flush()
            text.detach()
            raw, stream = self._file
            if stream is not raw:
                stream.close()
            raw.close()
            self._csv = self._file = None


class RunPlan(NamedTuple):
    """When a run was submitted and the last day of the month it holds."""

    submitted: datetime
    through_day: int
    invoiced: bool


def run_plans(export: ExportSpec, month: date, *, is_open: bool, open_days: int = OPEN_MONTH_DAYS) -> list[RunPlan]:
    """The runs an export leaves in a month's folder, oldest first.

    Daily month-to-date runs: a closed month's last run is the re-run Cost Management makes early in
    the next month, once the month is invoiced; the open month's last run is the day after its last day.
    Without overwrite an earlier mid-month run (about half the days, not invoiced) stays beside it.
    """
    days = min(open_days, month_days(month)) if is_open else month_days(month)
    time_of_day = timedelta(seconds=_digits(4, export.name, "time") % 36_000 + 3_600)
    if is_open:
        last = RunPlan(datetime.combine(month + timedelta(days=days), datetime.min.time()) + time_of_day, days, False)
    else:
        second = _next_month(month) + timedelta(days=1)
        last = RunPlan(datetime.combine(second, datetime.min.time()) + time_of_day, days, True)
    if export.overwrite or days < 2:
        return [last]
    half = days // 2
    early = RunPlan(datetime.combine(month + timedelta(days=half), datetime.min.time()) + time_of_day, half, False)
    return [early, last]


def write_run(
    root: Path,
    export: ExportSpec,
    month: date,
    plan: RunPlan | None = None,
    *,
    rows: int = DEFAULT_ROWS,
    part_rows: int = DEFAULT_PART_ROWS,
    first_month: date | None = None,
    revision: int = 1,
    seed: int = 7,
    root_folder_path: str = ROOT_FOLDER_PATH,
) -> Delivery:
    """Write one run of `export` for `month` into `root` (the container's mirror), under `root_folder_path`.

    `plan` says when it ran, how many days it holds and whether the month is invoiced (default: the
    closed month's last run). `first_month` is when the reservation was bought (default: `month`).
    A different `revision` restates the month with other usage. An overwriting export's earlier run
    folders for the month are removed, as Cost Management does.
    """
    plan = plan or run_plans(export, month, is_open=False)[-1]
    scope = export.scope
    run_id = _uuid(export.name, month, plan.submitted.isoformat(), revision, seed)
    period = f"{month:%Y%m%d}-{month.replace(day=month_days(month)):%Y%m%d}"
    relative = "/".join(part for part in (root_folder_path.strip("/"), export.name, period) if part)
    if export.overwrite and (root / relative).exists():
        shutil.rmtree(root / relative)
    if export.export_time_folder:
        relative += f"/{plan.submitted:%Y%m%d%H%M}"
    relative += f"/{run_id}"
    folder = root / relative
    folder.mkdir(parents=True, exist_ok=True)

    charges = _ScopeMonth(
        scope,
        month,
        days=plan.through_day,
        rows=rows,
        invoiced=plan.invoiced,
        term_start=first_month or month,
        revision=revision,
        seed=seed,
    )
    invoice_id = charges.invoice_id(month) if plan.invoiced else ""
    writer = _PartWriter(folder, export, part_rows)
    for charge in charges.charges():
        row = export.row(charge, month, invoice_id)
        if row is not None:
            writer.add(row)
    writer.close()

    manifest = _manifest(export, month, plan, run_id, folder, writer.parts, relative, root_folder_path)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return Delivery(
        export=export.name,
        month=month,
        run_id=run_id,
        submitted_time=manifest["runInfo"]["submittedTime"],
        folder=relative,
        manifest=f"{relative}/manifest.json",
        files=[f"{relative}/{name}" for name in writer.parts],
        rows_per_file={f"{relative}/{name}": count for name, count in writer.parts.items()},
        totals=charges.totals,
    )


def _manifest(
    export: ExportSpec,
    month: date,
    plan: RunPlan,
    run_id: str,
    folder: Path,
    parts: dict[str, int],
    blob_folder: str,
    root_folder_path: str,
) -> dict:
    """manifest.json as Cost Management writes it: the current shape, or the older one (no manifestVersion,
    no top-level counts, no compressionMode, no per-blob row count)."""
    file_format, compression, _ = _FILE_FORMATS[export.file_format]
    current = export.manifest_version is not None
    blobs = []
    for name, count in parts.items():
        blob = {"blobName": f"{blob_folder}/{name}", "byteCount": (folder / name).stat().st_size}
        if current:
            blob["dataRowCount"] = count
        blobs.append(blob)
    # 7 fractional digits, as Cost Management writes them
    submitted = f"{plan.submitted:%Y-%m-%dT%H:%M:%S}.{_digits(7, run_id):07d}Z"
    storage = f"/subscriptions/{_uuid('storage subscription')}/resourceGroups/rg-finops/providers/Microsoft.Storage"
    delivery = {
        "partitionData": True,
        "dataOverwriteBehavior": "OverwritePreviousReport" if export.overwrite else "CreateNewReport",
        "fileFormat": file_format,
        "compressionMode": compression,
        "containerUri": f"{storage}/storageAccounts/finopsexports",
        "rootFolderPath": root_folder_path,
    }
    if not current:
        del delivery["compressionMode"]
    body = {
        "exportConfig": {
            "exportName": export.name,
            "resourceId": f"{export.scope.resource_id}/providers/Microsoft.CostManagement/exports/{export.name}",
            "dataVersion": export.version,
            "apiVersion": "2025-03-01" if current else MANIFEST_OLDER,
            "type": _EXPORT_TYPES[export.dataset],
            "timeFrame": "MonthToDate",
            "granularity": "Daily",
        },
        "deliveryConfig": delivery,
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": submitted,
            "runId": run_id,
            "startDate": f"{month:%Y-%m-%d}T00:00:00",
            "endDate": f"{month.replace(day=plan.through_day):%Y-%m-%d}T00:00:00Z",
        },
        "blobs": blobs,
    }
    if current:
        counts = {
            "manifestVersion": export.manifest_version,
            "byteCount": sum(blob["byteCount"] for blob in blobs),
            "blobCount": len(blobs),
            "dataRowCount": sum(parts.values()),
        }
        body = {**counts, **body}
    return body


@dataclass
class AzureSample:
    """What `write_exports` wrote: every run, the months' known totals, and the exports' settings.

    `root` mirrors the container: a blob's name is its path under `root`; the exports' folders are under
    `export_root` (`root/<root_folder_path>`), which the `file://` settings name.
    """

    root: Path
    root_folder_path: str
    exports: tuple[ExportSpec, ...]
    deliveries: dict[tuple[str, date], list[Delivery]]  # (export, month) → runs, oldest first

    @property
    def export_root(self) -> Path:
        return self.root / self.root_folder_path

    def latest(self, export: str, month: date) -> Delivery:
        return self.deliveries[(export, month)][-1]

    @property
    def settings(self) -> list[dict]:
        """The `finops_azure_exports` entries for the local mirror (`file://<root>/<root_folder_path>`)."""
        uri = self.export_root.resolve().as_uri()
        return [{"name": export.name, "uri": uri, "format": export.format} for export in self.exports]

    def storage_settings(self, conn_id: str = "azure_default") -> list[dict]:
        """The `finops_azure_exports` entries for this tree uploaded to `CONTAINER` (each file's path under
        `root` its blob name), as for Azurite."""
        uri = f"abfs://{CONTAINER}/{self.root_folder_path}".rstrip("/")
        return [{**entry, "uri": uri, "conn_id": conn_id} for entry in self.settings]

    @property
    def totals(self) -> dict[tuple[str, date], MonthTotals]:
        """(scope key, month) → the month as the last runs of its scope's exports hold it (all alike)."""
        return {(runs[-1].totals.scope, month): runs[-1].totals for (_, month), runs in self.deliveries.items()}


def write_exports(
    root: Path,
    months: list[date],
    *,
    exports: tuple[ExportSpec, ...] = DEMO_EXPORTS,
    rows: int = DEFAULT_ROWS,
    part_rows: int = DEFAULT_PART_ROWS,
    open_days: int = OPEN_MONTH_DAYS,
    seed: int = 7,
    root_folder_path: str = ROOT_FOLDER_PATH,
) -> AzureSample:
    """Write every run of every export for every month into `root` (the container's mirror); the last month is
    still open (month to date, `open_days` days, not invoiced). Returns the runs, their totals and the
    `finops_azure_exports` entries (`file://<root>/<root_folder_path>`)."""
    deliveries: dict[tuple[str, date], list[Delivery]] = {}
    for export in exports:
        for month in months:
            plans = run_plans(export, month, is_open=month == months[-1], open_days=open_days)
            deliveries[(export.name, month)] = [
                write_run(
                    root,
                    export,
                    month,
                    plan,
                    rows=rows,
                    part_rows=part_rows,
                    first_month=months[0],
                    seed=seed,
                    root_folder_path=root_folder_path,
                )
                for plan in plans
            ]
    return AzureSample(Path(root), root_folder_path, exports, deliveries)


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--months", nargs="+", default=["2025-01", "2025-02", "2025-03"])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="about this many rows per scope and month")
    parser.add_argument("--part-rows", type=int, default=DEFAULT_PART_ROWS)
    args = parser.parse_args()
    months = [date.fromisoformat(f"{m}-01") for m in args.months]
    sample = write_exports(args.out, months, rows=args.rows, part_rows=args.part_rows)
    for (name, month), runs in sample.deliveries.items():
        run = runs[-1]
        t = run.totals
        print(
            f"{name:18} {month:%Y-%m}  runs={len(runs)} rows={run.rows:>6}  {t.currency} "
            f"actual={t.actual:>14}  amortized={t.amortized:>14}"
        )
    print(json.dumps(sample.settings, indent=1))


if __name__ == "__main__":
    _main()
