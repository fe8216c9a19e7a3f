"""API models, conditions and quantities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from orchestrator.api import conditions
from orchestrator.api.base import Condition
from orchestrator.api.catalog_source import CatalogSourceSpec
from orchestrator.api.environments import EnvironmentsConfig
from orchestrator.api.quantity import QuantityError, parse_quantity
from orchestrator.api.service_request import ServiceRequestSpec

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_set_condition_skips_no_op_writes_and_keeps_transition_time() -> None:
    first, changed = conditions.set_condition(
        [], conditions.READY, "False", conditions.Reason.PROGRESSING, "working", observed_generation=1, now=T0
    )
    assert changed
    again, changed = conditions.set_condition(
        first, conditions.READY, "False", conditions.Reason.PROGRESSING, "working", observed_generation=1, now=T0
    )
    assert not changed and again == first
    later = T0 + timedelta(minutes=5)
    message_only, changed = conditions.set_condition(
        first,
        conditions.READY,
        "False",
        conditions.Reason.PROGRESSING,
        "still working",
        observed_generation=1,
        now=later,
    )
    assert changed and message_only[0].last_transition_time == T0
    flipped, changed = conditions.set_condition(
        message_only, conditions.READY, "True", conditions.Reason.SUCCEEDED, "done", observed_generation=1, now=later
    )
    assert changed and flipped[0].last_transition_time == later


def test_conditions_keep_a_stable_order() -> None:
    current: list[Condition] = []
    for type_ in (conditions.STALLED, conditions.READY, conditions.RECONCILING):
        current, _ = conditions.set_condition(
            current, type_, "False", conditions.Reason.PENDING, "", observed_generation=None, now=T0
        )
    assert [c.type for c in current] == [conditions.READY, conditions.RECONCILING, conditions.STALLED]
    current, removed = conditions.remove_condition(current, conditions.RECONCILING)
    assert removed and [c.type for c in current] == [conditions.READY, conditions.STALLED]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (4, Decimal(4)),
        ("2Gi", Decimal(2**31)),
        ("1.5k", Decimal(1500)),
        ("1e3", Decimal(1000)),
        ("100Mi", Decimal(100 * 2**20)),
    ],
    ids=["milli", "plain", "int", "binary", "decimal-suffix", "exponent", "mebi"],
)
def test_parse_quantity(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["16GB", "2 Gi", "", "-1", "1.2.3", "Gi", True], ids=str)
def test_parse_quantity_rejects(text: str | bool) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fields": {}}, "exactly one of 'catalogItem' and 'bundle' must be set"),
        ({"catalogItem": "a", "bundle": "b"}, "exactly one of 'catalogItem' and 'bundle' must be set"),
    ],
    ids=["neither", "both"],
)
def test_service_request_targets_exactly_one(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServiceRequestSpec.model_validate(spec)


def test_catalog_source_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'path' and 'git' must be set"):
        CatalogSourceSpec.model_validate({"path": "/git/catalog", "git": {"url": "file:///repo"}})
    spec = CatalogSourceSpec.model_validate({"git": {"url": "file:///repo", "ref": {"branch": "main"}}})
    assert spec.interval == "1m" and spec.git is not None and spec.git.directory == "."


def test_environments_resolve_default_and_reject_unknown_default() -> None:
    config = EnvironmentsConfig.model_validate({"default": "dev", "environments": {"dev": {}, "prod": {}}})
    assert config.resolve(None) == "dev"
    assert config.resolve("prod") == "prod"
    assert config.resolve("staging") is None
    with pytest.raises(ValidationError, match="default environment 'qa' is not one of the environments"):
        EnvironmentsConfig.model_validate({"default": "qa", "environments": {"dev": {}}})
