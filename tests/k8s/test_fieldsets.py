"""The structured-merge-diff port (fieldsets.py) against cases of structured-merge-diff's own tests
(typed/merge_test.go, typed/toset_test.go, merge/multiple_appliers_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.fieldsets import (
    DEDUCED,
    Shape,
    compare,
    crd_shape,
    field_set,
    from_fields_v1,
    merge,
    path_string,
    remove_items,
    to_fields_v1,
)

SETS = Shape(fields={"set": Shape(list_type="set")})
LIST = Shape(fields={"list": Shape(list_type="map", keys=("key", "id"))})


@pytest.mark.parametrize(
    ("live", "applied", "merged"),
    [
        (["a", "b", "c"], ["a", "b"], ["a", "b", "c"]),
        (["a", "b"], ["b", "a"], ["b", "a"]),
        (["a", "b", "c", "g", "f"], ["c", "d", "e", "f"], ["a", "b", "c", "g", "d", "e", "f"]),
        (["c", "d", "e", "f"], ["a", "c", "e"], ["a", "c", "d", "e", "f"]),
        (["a", "b", "c", "d"], ["d", "e", "f", "a"], ["b", "c", "d", "e", "f", "a"]),
        (
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
            ["1", "b", "2", "h", "3", "e", "4", "k", "l"],
            ["a", "1", "b", "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l"],
        ),
    ],
)
def test_merged_sets_keep_the_order_of_structured_merge_diff(
    live: list[str], applied: list[str], merged: list[str]
) -> None:
    assert merge({"set": live}, {"set": applied}, SETS) == {"set": merged}


def test_merged_list_maps_merge_items_by_key() -> None:
    live = {"list": [{"key": "a", "id": 1, "nv": 1}, {"key": "b", "id": 2}, {"key": "c", "id": 3}]}
    applied = {"list": [{"key": "c", "id": 3}, {"key": "a", "id": 1, "bv": True}]}
    assert merge(live, applied, LIST) == {
        "list": [{"key": "b", "id": 2}, {"key": "c", "id": 3}, {"key": "a", "id": 1, "nv": 1, "bv": True}]
    }


@pytest.mark.parametrize(
    ("obj", "fields"),
    [
        ({"set": ["a", "b"]}, {("f:set", 'v:"a"'), ("f:set", 'v:"b"')}),
        ({"set": ["a", "a"]}, {("f:set",)}),  # duplicates: atomic here (structured-merge-diff tracks them apart)
        (
            {"list": [{"key": "a", "id": 1}]},
            {("f:list", 'k:{"id":1,"key":"a"}')} | {("f:list", 'k:{"id":1,"key":"a"}', f) for f in ("f:id", "f:key")},
        ),
        ({"other": {"x": {}}}, {("f:other",), ("f:other", "f:x")}),  # undeclared keys are fields themselves
    ],
)
def test_field_sets(obj: dict[str, Any], fields: set[tuple[str, ...]]) -> None:
    assert field_set(obj, Shape(fields={**SETS.fields, **LIST.fields})) == fields


def test_null_and_maps_compare_and_merge_like_structured_merge_diff() -> None:
    # null over a map keeps its items (nothing to merge), and going from null to a map adds only the items.
    assert merge({"a": {"b": None}}, {"a": None}, DEDUCED) == {"a": {"b": None}}
    change = compare({"a": None}, {"a": {"b": 1}}, DEDUCED)
    assert (change.added, change.modified, change.removed) == ({("f:a", "f:b")}, set(), set())
    assert remove_items({"a": {"b": 1}, "c": 2}, frozenset({("f:a", "f:b")}), DEDUCED) == {"a": None, "c": 2}


def test_crd_schemas_name_their_properties() -> None:
    shape = crd_shape(
        {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "status": {
                    "type": "object",
                    "properties": {
                        "conditions": {
                            "type": "array",
                            "items": {"type": "object"},
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["type"],
                        }
                    },
                },
            },
        }
    )
    obj = {"metadata": {"labels": {"a": "b"}}, "spec": {"size": 1}, "status": {"conditions": [{"type": "Ready"}]}}
    assert to_fields_v1(field_set(obj, shape)) == {
        "f:metadata": {"f:labels": {"f:a": {}}},
        "f:spec": {"f:size": {}},
        "f:status": {"f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:type": {}}}},
    }


def test_fields_v1_round_trips_and_paths_print_as_the_server_does() -> None:
    fields = {"f:spec": {".": {}, "f:a": {}}, "f:status": {"f:c": {'k:{"type":"Ready"}': {"f:s": {}}}}}
    paths = from_fields_v1(fields)
    assert to_fields_v1(paths) == fields
    assert sorted(map(path_string, paths)) == [".spec", ".spec.a", '.status.c[type="Ready"].s']
    with pytest.raises(ValueError):
        from_fields_v1({"x:spec": {}})
