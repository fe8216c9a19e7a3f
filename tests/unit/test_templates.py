"""Template engine: rendering, limits, sandboxing, conditions and static reference analysis."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest

from orchestrator.templates import (
    MAX_RANGE,
    TemplateError,
    TemplateReference,
    b64decode,
    b64encode,
    compile_check,
    dns_label,
    evaluate_condition,
    find_references,
    find_references_in_expression,
    make_environment,
    render,
    render_tree,
    slug,
    to_json,
)

SCOPES: dict[str, Any] = {
    "fields": {
        "dbName": "orders",
        "enabled": True,
        "size": "large",
        "n": 3,
        "ratio": 0.5,
        "tags": ["a", "b", "c"],
        "labels": {"team": "payments", "tier": "1"},
        "nested": {"db": {"host": "db.local"}},
        "empty": [],
        "nothing": None,
        "items": "a field called items",
        "db-name": "dashed",
        "template": "{{ 7*7 }}",
    },
    "request": {"name": "orders-db", "namespace": "team-a", "environment": "prod"},
    "metadata": {"name": "postgres", "version": "1.2.0"},
    "system": {"clusterName": "kind"},
    "environment": {"region": "eu-west-1"},
    "outputs": {"provision": {"endpoint": "db:5432"}},
}

NOT_DATA = "but a value must be a string, number, boolean, null, list or mapping"
GENERATOR = f"the template produced a generator, {NOT_DATA}; add '| list' to turn it into a list"
FUNCTION = f"the template produced a function, {NOT_DATA}"
NOT_SINGLE = "expected a single expression, such as \"fields.size == 'large'\""
UNCLOSED = (
    "Unexpected end of template. Jinja was looking for the following tags: {}."
    " The innermost block that needs to be closed is {}."
)
UNCLOSED_FOR = UNCLOSED.format("'endfor' or 'else'", "'for'")
UNCLOSED_IF = UNCLOSED.format("'elif' or 'else' or 'endif'", "'if'")
NESTED_LOOPS = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}"


def render_error(source: str, scopes: dict[str, Any] | None = None, **limits: Any) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, SCOPES if scopes is None else scopes, **limits)
    return caught.value


# --- render: types --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ fields.enabled }}", True),
        ("{{ fields.tags }}", ["a", "b", "c"]),
        ("{{ fields.n + 1 }}", 4),
        ("{{ fields.ratio * 2 }}", 1.0),
        ("{{ fields.nothing }}", None),
        ("{{ fields.labels }}", {"team": "payments", "tier": "1"}),
        ("{{ fields.dbName }}", "orders"),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ fields.tags | length > 2 }}", True),
        ("{{ fields.labels | dictsort }}", [["team", "payments"], ["tier", "1"]]),
        ("  {{ fields.n }}\n", 3),
        ("{# comment #}{{ fields.n }}", 3),
        ("{{- fields.n -}}", 3),
        ("{{ 'x' | safe }}", "x"),
        ("x-{{ fields.n }}", "x-3"),
        ("{{ fields.n }}{{ fields.n }}", "33"),
        ("{{ fields.n }} items", "3 items"),
        ("{% if fields.enabled %}{{ fields.n }}{% endif %}", "3"),
        ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
        ("plain text", "plain text"),
        ("plain text with newline\n", "plain text with newline\n"),
        ("", ""),
        ("line\n{{ fields.n }}\n", "line\n3"),
        ("{{ fields.tags | map('upper') | join(',') }}", "A,B,C"),
        ("{% for t in fields.tags %}{{ loop.index }}{{ t }}{% if not loop.last %},{% endif %}{% endfor %}", "1a,2b,3c"),
        ("{% for t in fields.tags %}{{ loop.length }}{{ loop.cycle('o', 'e') }}{% endfor %}", "3o3e3o"),
        ("{% for t in fields.empty %}x{% else %}none{% endfor %}", "none"),
        ("{% for k, v in fields.labels.items() %}{{ k }}={{ v }};{% endfor %}", "team=payments;tier=1;"),
        ("{% set name = request.name ~ '-' ~ fields.n %}{{ name }}", "orders-db-3"),
        ("{% macro host(d) %}{{ d.host }}{% endmacro %}{{ host(fields.nested.db) }}", "db.local"),
        ("{{ '%s-%s' | format(fields.dbName, fields.n) }}", "orders-3"),
        ("{{ '{}-{}'.format(fields.dbName, fields.n) }}", "orders-3"),
        ("{{ fields['db-name'] }}", "dashed"),
        ("{{ fields.nested['db'].host }}", "db.local"),
        ("{{ fields.tags[-1] }}", "c"),
        ("<b>{{ '<i>&' }}</b>", "<b><i>&</b>"),
        ("{{ environment.region }}", "eu-west-1"),
        ("{{ '%s' % fields.n }}", "3"),
        ("{{ 1 ** 100000 }}", 1),
    ],
    ids=lambda value: repr(value),
)
def test_render_keeps_single_expression_types(source: str, expected: Any) -> None:
    result = render(source, SCOPES)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ fields.template }}", "{{ 7*7 }}"),
        ("name: {{ fields.template }}", "name: {{ 7*7 }}"),
        ("{{ fields.template | upper }}", "{{ 7*7 }}"),
    ],
    ids=["single-expression", "text", "filtered"],
)
def test_requester_values_are_data_not_templates(source: str, expected: str) -> None:
    assert render(source, SCOPES) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ fields.items }}", "a field called items"),
        ("{{ fields.labels.items() | list }}", [["team", "payments"], ["tier", "1"]]),
        ("{{ fields['items'] }}", "a field called items"),
    ],
    ids=["key-wins-over-method", "method-when-no-key", "subscript"],
)
def test_mapping_keys_win_over_dict_methods(source: str, expected: Any) -> None:
    assert render(source, SCOPES) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ fields.missing | default('a') }}", "a"),
        ("{{ fields.missing | default(fields.dbName) }}", "orders"),
        ("{{ fields.nothing | default('a', true) }}", "a"),
        ("{{ fields.missing is defined }}", False),
        ("x={{ fields.missing | default('a') }}", "x=a"),
    ],
    ids=["literal", "other-field", "falsy-boolean-mode", "is-defined", "text"],
)
def test_default_works_with_strict_undefined(source: str, expected: Any) -> None:
    assert render(source, SCOPES) == expected


def test_scopes_are_not_modified_and_results_are_copies() -> None:
    scopes = {"fields": {"tags": ["a"], "labels": {"k": "v"}}}
    tags = render("{{ fields.tags }}", scopes)
    tags.append("mutated")
    assert scopes == {"fields": {"tags": ["a"], "labels": {"k": "v"}}}


# --- render: errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("{{ fields.dbNmae }}", "'fields' has no attribute 'dbNmae'", 1),
        ("x-{{ fields.dbNmae }}", "'fields' has no attribute 'dbNmae'", 1),
        ("a\nb\n{{ fields.nested.db.port }}", "'fields.nested.db' has no attribute 'port'", 3),
        ("{{ fields.labels['nope'] }}", "'fields.labels' has no attribute 'nope'", 1),
        ("{{ fields.tags[7] }}", "'fields.tags' has no element 7", 1),
        ("{{ feilds.dbName }}", "'feilds' is undefined", 1),
        ("{{ fields.missing.deeper | default('a') }}", "'fields' has no attribute 'missing'", 1),
        ("{{ fields.missing | slug }}", "'fields' has no attribute 'missing'", 1),
        ("{{ x }", "unexpected '}'", 1),
        ("ok\n{% for x in y %}", UNCLOSED_FOR, 2),
        ("{{ fields.n | nosuchfilter }}", "No filter named 'nosuchfilter'.", 1),
        ("{{ 1 / 0 }}", "division by zero", 1),
        ("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'", 1),
        ("{{ fields.tags | map('upper') }}", GENERATOR, 1),
        ("text {{ range }}", FUNCTION, 1),
        ("{{ fields.labels.values }}", f"the template produced a builtin_function_or_method, {NOT_DATA}", 1),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "the template recurses too deeply", 1),
        ("{% include 'other.yaml' %}", "no loader for this environment specified", 1),
        ("{{ '{0}'.format_map({'0': 1}) }}", "tuple index out of range", 1),
        ("{{ '{a}'.format_map({}) }}", "key 'a' not found", 1),
        ("{{ [1, 2] | random }}", "No filter named 'random'.", 1),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_render_errors_are_one_clean_line(source: str, message: str, line: int | None) -> None:
    error = render_error(source)
    assert error.message == message
    assert error.line == line
    assert str(error) == f"{message} (line {line})"
    assert "\n" not in str(error) and "Traceback" not in str(error) and " at 0x" not in str(error)


# --- sandbox -----------------------------------------------------------------------------------------------

SECURITY_CASES = [
    ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
    ("{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
    ("x{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
    ("{{ cycler.__init__.__globals__ }}", "'cycler' is undefined"),
    ("{{ lipsum.__globals__ }}", "'lipsum' is undefined"),
    ("{{ joiner() }}", "'joiner' is undefined"),
    ("{{ namespace(a=1) }}", "'namespace' is undefined"),
    ("{{ dict(a=1) }}", "'dict' is undefined"),
    ("{{ range(10**9) | list }}", f"range() is limited to {MAX_RANGE} numbers"),
    ("{{ range(10**30) }}", f"range() is limited to {MAX_RANGE} numbers"),
    ("{{ self.__init__ }}", "access to attribute '__init__' of 'TemplateReference' object is unsafe."),
    (
        "{{ self._TemplateReference__context }}",
        "access to attribute '_TemplateReference__context' of 'TemplateReference' object is unsafe.",
    ),
    ("{{ request.__class__ }}", "access to attribute '__class__' of 'dict' object is unsafe."),
    ("{{ request.mro }}", "'request' has no attribute 'mro'"),
    ("{{ request.func_globals }}", "'request' has no attribute 'func_globals'"),
    ("{{ fields.tags.mro }}", "'fields.tags' has no attribute 'mro'"),
    ("{{ fields.n.__class__.mro() }}", "access to attribute '__class__' of 'int' object is unsafe."),
    ("{{ range.__globals__ }}", "access to attribute '__globals__' of 'function' object is unsafe."),
    ("{{ fields.tags | attr('__class__') }}", "access to attribute '__class__' of 'list' object is unsafe."),
    ("{{ '{0.__class__}'.format(fields) }}", "access to attribute '__class__' of 'dict' object is unsafe."),
    ("{{ '{a.__class__}'.format_map({'a': fields}) }}", "access to attribute '__class__' of 'dict' object is unsafe."),
    ("{{ fields.tags.append('x') }}", "access to attribute 'append' of 'list' object is unsafe."),
    ("{{ fields.labels.update({'a': 1}) }}", "access to attribute 'update' of 'dict' object is unsafe."),
    ("{{ fields.tags.__len__() }}", "access to attribute '__len__' of 'list' object is unsafe."),
    ("{{ 'a' * 10**8 }}", "repeating a value with '*' would exceed the size limit of 65536"),
    ("x{{ 'a' * 10**8 }}", "repeating a value with '*' would exceed the size limit of 65536"),
    ("{{ [[1] * 60000] * 60000 }}", "repeating a value with '*' would exceed the size limit of 65536"),
    ("{{ 2 ** 100000 }}", "the result of '**' is too large"),
    ("{{ 'x' | center(10**9) }}", "center width of 1000000000 exceeds the size limit of 65536"),
    ("{{ 'x'.ljust(10**9) }}", "the width given to ljust() of 1000000000 exceeds the size limit of 65536"),
    ("{{ 'x' | indent(10**9) }}", "indent width of 1000000000 exceeds the size limit of 65536"),
    ("{{ [1] | batch(10**9, 0) | list }}", "batch size of 1000000000 exceeds the size limit of 65536"),
    ("{{ [1] | slice(10**9) | list }}", "slice count of 1000000000 exceeds the size limit of 65536"),
    ("{{ '%1000000000s' | format('a') }}", "a format width of 1000000000 exceeds the size limit of 65536"),
    ("{{ '%*d' % (10**9, 1) }}", "a format width of 1000000000 exceeds the size limit of 65536"),
    ("{{ '{:>1000000000}'.format(1) }}", "a format width of 1000000000 exceeds the size limit of 65536"),
    ("{{ '{:>{w}}'.format('a', w=10**9) }}", "a format width of 1000000000 exceeds the size limit of 65536"),
]


@pytest.mark.parametrize(("source", "message"), SECURITY_CASES, ids=[case[0] for case in SECURITY_CASES])
def test_sandbox_refuses_escapes_and_blowups(source: str, message: str) -> None:
    error = render_error(source)
    assert error.message == message
    assert error.line == 1


def test_unsafe_globals_are_removed_and_range_is_bounded() -> None:
    environment = make_environment()
    assert set(environment.globals) == {"range"}
    assert render(f"{{{{ range({MAX_RANGE}) | list | length }}}}", SCOPES) == MAX_RANGE
    assert make_environment() is not environment


# --- limits -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "limits", "message"),
    [
        (NESTED_LOOPS, {}, "the rendered output exceeds the limit of 65536 bytes"),
        (
            NESTED_LOOPS,
            {"max_output": 10**9},
            "the template needs more than 100000 operations (loops or calls); simplify it",
        ),
        (
            "{% set xs = range(10000) | list %}{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}",
            {},
            "the template needs more than 100000 operations (loops or calls); simplify it",
        ),
        (
            "{% for i in range(100) %}{{ i }}{% endfor %}",
            {"max_operations": 50},
            "the template needs more than 50 operations (loops or calls); simplify it",
        ),
        (
            "{% for i in range(1000) %}{{ i }}{% endfor %}",
            {"time_budget": 1e-9},
            "the template took longer than 1e-09s to render",
        ),
        ("{{ 'abcdef' }}", {"max_output": 5}, "the rendered value exceeds the limit of 5 bytes"),
        ("{{ 'é' * 3 }}", {"max_output": 5}, "the rendered value exceeds the limit of 5 bytes"),
        ("{{ fields.tags }}", {"max_output": 10}, "the rendered value exceeds the limit of 10 bytes"),
        ("abc{{ 'def' }}", {"max_output": 5}, "the rendered output exceeds the limit of 5 bytes"),
        ("{{ 'ab' * 3 }}", {"max_output": 5}, "repeating a value with '*' would exceed the size limit of 5"),
    ],
    ids=[
        "nested-loops-hit-output-bound",
        "nested-loops-hit-operation-bound",
        "silent-nested-loops-hit-operation-bound",
        "custom-operation-bound",
        "time-bound",
        "value-bound",
        "value-bound-counts-utf8-bytes",
        "value-bound-counts-json",
        "text-bound",
        "repeat-bound-follows-max-output",
    ],
)
def test_render_is_bounded(source: str, limits: dict[str, Any], message: str) -> None:
    assert render_error(source, **limits).message == message


@pytest.mark.parametrize(
    ("source", "limits", "expected"),
    [
        ("{{ 'abcde' }}", {"max_output": 5}, "abcde"),
        ("{{ fields.tags }}", {"max_output": 15}, ["a", "b", "c"]),
        ("{% for i in range(10) %}x{% endfor %}", {"max_output": 10}, "xxxxxxxxxx"),
    ],
    ids=["value-at-limit", "json-at-limit", "text-at-limit"],
)
def test_render_at_the_limit_succeeds(source: str, limits: dict[str, Any], expected: Any) -> None:
    assert render(source, SCOPES, **limits) == expected


def test_budgets_are_per_render_and_per_thread() -> None:
    # Each render starts from zero: many small renders never add up to the operation bound.
    for _ in range(5):
        assert render("{% for i in range(40) %}{% endfor %}ok", SCOPES, max_operations=50) == "ok"
    results: list[Any] = []

    def worker() -> None:
        results.append(render("{% for i in range(30) %}{% endfor %}ok", SCOPES, max_operations=40))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 4


# --- filters ------------------------------------------------------------------------------------------------

LONG = "a-really-long-service-name-that-goes-on-and-on-past-the-dns-label-limit"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Team A / Prod", "team-a-prod"),
        ("--Hello__World--", "hello-world"),
        ("Café Crème", "cafe-creme"),
        ("already-a-slug", "already-a-slug"),
        ("!!!", ""),
        (42, "42"),
    ],
    ids=["spaces-and-slash", "edges", "accents", "unchanged", "nothing-left", "number"],
)
def test_slug(value: Any, expected: str) -> None:
    assert slug(value) == expected
    assert render("{{ value | slug }}", {"value": value}) == expected


@pytest.mark.parametrize(
    ("value", "max_length", "expected"),
    [
        ("Orders DB", 63, "orders-db"),
        ("x" * 63, 63, "x" * 63),
        (LONG, 63, "a-really-long-service-name-that-goes-on-and-on-past-th-7857a7c3"),
        (LONG + "-2", 63, "a-really-long-service-name-that-goes-on-and-on-past-th-cce08e2a"),
        (LONG, 20, "a-really-lo-7857a7c3"),
        ("a-b-c-d-e-f-g-h-i-j", 11, "a-c6ccca54"),
    ],
    ids=["short", "exactly-63", "long", "long-differs", "custom-max", "no-trailing-dash-before-hash"],
)
def test_dns_label(value: str, max_length: int, expected: str) -> None:
    label = dns_label(value, max_length)
    assert label == expected
    assert len(label) <= max_length
    assert label[0].isalnum() and label[-1].isalnum()


def test_dns_label_truncation_is_stable_and_distinct() -> None:
    assert dns_label(LONG) == dns_label(LONG)
    assert dns_label(LONG) != dns_label(LONG + "-2")
    assert render("{{ value | dns_label }}", {"value": LONG}) == dns_label(LONG)
    assert render("{{ value | dns_label(20) }}", {"value": LONG}) == dns_label(LONG, 20)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ '!!!' | dns_label }}", "dns_label: '!!!' has no letters or digits to make a label from"),
        ("{{ 'abc' | dns_label(5) }}", "dns_label max_length must be between 10 and 63, not 5"),
        ("{{ true | slug }}", "slug expects a string, not bool; convert it with '| string'"),
        ("{{ fields.tags | b64encode }}", "b64encode expects a string, not list; convert it with '| string'"),
        ("{{ '@@' | b64decode }}", "b64decode: the value is not valid base64"),
        ("{{ '/w==' | b64decode }}", "b64decode: the decoded bytes are not UTF-8 text"),
        ("{{ [fields.missing] | to_json }}", "'fields' has no attribute 'missing'"),
        ("{{ [range] | to_json }}", FUNCTION),
    ],
    ids=[
        "dns-label-empty",
        "dns-label-max",
        "slug-bool",
        "b64-list",
        "b64-invalid",
        "b64-binary",
        "json-undefined",
        "json-function",
    ],
)
def test_filter_errors(source: str, message: str) -> None:
    assert render_error(source).message == message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ fields.labels | to_json }}", '{"team":"payments","tier":"1"}'),
        ("{{ {'b': [1, true, none], 'a': 'é'} | to_json }}", '{"a":"é","b":[1,true,null]}'),
        ("{{ 'pässword' | b64encode }}", base64.b64encode("pässword".encode()).decode()),
        ("{{ 5432 | b64encode }}", "NTQzMg=="),
        ("{{ 'cMOkc3N3b3Jk' | b64decode }}", "pässword"),
        ("{{ fields.dbName | b64encode | b64decode }}", "orders"),
    ],
    ids=["json-sorted-compact", "json-nested", "b64encode-utf8", "b64encode-number", "b64decode", "round-trip"],
)
def test_data_filters(source: str, expected: str) -> None:
    assert render(source, SCOPES) == expected


def test_filter_functions_directly() -> None:
    assert to_json({"b": 1, "a": [None]}) == '{"a":[null],"b":1}'
    assert json.loads(to_json(SCOPES["fields"])) == SCOPES["fields"]
    assert b64encode("hi") == "aGk="
    assert b64decode("aGk=") == "hi"


# --- render_tree ---------------------------------------------------------------------------------------------


def test_render_tree_renders_every_string_but_not_keys() -> None:
    tree = {
        "name": "{{ request.name }}",
        "{{ key }}": "literal",
        "enabled": "{{ fields.enabled }}",
        "list": ["x-{{ fields.n }}", 3, None, ("{{ fields.tags }}",)],
        "nested": {"host": "{{ fields.nested.db.host }}", "port": 5432},
    }
    original = json.dumps(tree, sort_keys=True)
    assert render_tree(tree, SCOPES) == {
        "name": "orders-db",
        "{{ key }}": "literal",
        "enabled": True,
        "list": ["x-3", 3, None, [["a", "b", "c"]]],
        "nested": {"host": "db.local", "port": 5432},
    }
    assert json.dumps(tree, sort_keys=True) == original


def test_render_tree_error_carries_path() -> None:
    with pytest.raises(TemplateError) as caught:
        render_tree({"vars": {"list": ["ok", "{{ fields.dbNmae }}"]}}, SCOPES)
    assert caught.value.path == ("vars", "list", 1)
    assert caught.value.message == "'fields' has no attribute 'dbNmae'"
    assert str(caught.value) == "vars.list.1: 'fields' has no attribute 'dbNmae' (line 1)"


def test_render_tree_limits_apply_per_string() -> None:
    assert render_tree(["{{ 'abcde' }}", "{{ 'fghij' }}"], SCOPES, max_output=5) == ["abcde", "fghij"]
    with pytest.raises(TemplateError, match=r"^1: the rendered value exceeds the limit of 5 bytes \(line 1\)$"):
        render_tree(["{{ 'abcde' }}", "{{ 'abcdef' }}"], SCOPES, max_output=5)


# --- conditions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("fields.size == 'large'", True),
        ("fields.size == 'small'", False),
        ("{{ fields.size == 'large' }}", True),
        ("  {{ fields.n > 5 }}  ", False),
        ("fields.tags", True),
        ("fields.empty", False),
        ("fields.nothing", False),
        ("fields.missing is defined and fields.missing", False),
        ("'payments' in fields.labels.values() | list", True),
        ("request.environment in ['prod', 'staging']", True),
        ("fields.n", True),
        ("fields.tags | select('equalto', 'z') | list", False),
    ],
    ids=lambda value: repr(value),
)
def test_evaluate_condition(expression: str, expected: bool) -> None:
    assert evaluate_condition(expression, SCOPES) is expected


@pytest.mark.parametrize(
    ("expression", "message", "line"),
    [
        ("fields.sise == 'large'", "'fields' has no attribute 'sise'", 1),
        ("fields.size ==", "unexpected 'end of template'", 1),
        ("fields.size 'large'", "unexpected string after the expression", 1),
        ("{{ fields.a }} and {{ fields.b }}", NOT_SINGLE, None),
        ("", "the expression is empty", None),
        ("fields.tags | select('equalto', 'z')", GENERATOR, 1),
        ("''.__class__", "access to attribute '__class__' of 'str' object is unsafe.", 1),
    ],
    ids=["undefined", "incomplete", "trailing", "two-expressions", "empty", "generator", "sandbox"],
)
def test_evaluate_condition_errors(expression: str, message: str, line: int | None) -> None:
    with pytest.raises(TemplateError) as caught:
        evaluate_condition(expression, SCOPES)
    assert caught.value.message == message
    assert caught.value.line == line


# --- compile_check -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["plain", "{{ fields.anything.at.all }}", "{% for x in y %}{{ x | upper }}{% endfor %}", "{{ x | slug }}"],
    ids=["plain", "unknown-names-are-fine", "loop", "platform-filter"],
)
def test_compile_check_accepts(source: str) -> None:
    compile_check(source)  # does not raise


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("{{ x }", "unexpected '}'", 1),
        ("a\nb\n{% if x %}", UNCLOSED_IF, 3),
        ("a\n{{ x | nosuch }}", "No filter named 'nosuch'.", 2),
        ("{{ x is nosuch }}", "No test named 'nosuch'.", 1),
        ("{% endfor %}", "Encountered unknown tag 'endfor'.", 1),
    ],
    ids=["brace", "unclosed-if", "unknown-filter", "unknown-test", "stray-end"],
)
def test_compile_check_rejects(source: str, message: str, line: int) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_check(source)
    assert (caught.value.message, caught.value.line) == (message, line)


# --- analysis -------------------------------------------------------------------------------------------------------


def paths(references: list[TemplateReference]) -> list[tuple[tuple[str, ...], int]]:
    return [(reference.path, reference.line) for reference in references]


F = "fields"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ outputs.provision.endpoint }}", [(("outputs", "provision", "endpoint"), 1)]),
        ("{{ fields['db-name'] }}", [((F, "db-name"), 1)]),
        ("{{ fields.tags | join(',') }}", [((F, "tags"), 1)]),
        ("{{ fields.name.upper() }}", [((F, "name"), 1)]),
        ("{{ environment }}", [(("environment",), 1)]),
        ("{% for t in fields.tags %}{{ t }}{% endfor %}", [((F, "tags"), 1)]),
        ("{% for t in fields.tags %}{{ loop.index }}{{ t.name }}{% endfor %}", [((F, "tags"), 1)]),
        ("{% for k, v in fields.labels.items() %}{{ k }}={{ v }}{% endfor %}", [((F, "labels"), 1)]),
        ("{% for x in fields.xs if x.ok and fields.flag %}{{ x }}{% endfor %}", [((F, "xs"), 1), ((F, "flag"), 1)]),
        ("{% for x in fields.xs %}{% else %}{{ x }}{% endfor %}", [((F, "xs"), 1), (("x",), 1)]),
        ("{% for x in fields.xs recursive %}{{ loop(x.children) }}{% endfor %}", [((F, "xs"), 1)]),
        ("{% for i in range(3) %}{% endfor %}{{ loop.index }}", [(("loop", "index"), 1)]),
        ("{% set x = fields.a %}{{ x.b }}{{ y }}", [((F, "a"), 1), (("y",), 1)]),
        ("{{ x }}{% set x = fields.a %}", [(("x",), 1), ((F, "a"), 1)]),
        ("{% set a, b = fields.pair %}{{ a }}{{ b }}", [((F, "pair"), 1)]),
        ("{% set s %}{{ fields.s }}{% endset %}{{ s }}", [((F, "s"), 1)]),
        ("{% if fields.on %}{% set z = 1 %}{% endif %}{{ z }}", [((F, "on"), 1)]),
        ("{% with a = fields.b %}{{ a.c }}{% endwith %}{{ a }}", [((F, "b"), 1), (("a",), 1)]),
        (
            "{% macro m(p, q=fields.d) %}{{ p.x }}{{ q }}{{ caller() }}{{ varargs }}{{ kwargs }}{% endmacro %}"
            "{{ m(fields.e) }}",
            [((F, "d"), 1), ((F, "e"), 1)],
        ),
        ("{% call m(fields.z) %}{{ caller }}{% endcall %}", [(("m",), 1), ((F, "z"), 1)]),
        ("{% filter upper %}{{ fields.f }}{% endfilter %}", [((F, "f"), 1)]),
        ("{{ x | default(fields.other) }}", [(("x",), 1), ((F, "other"), 1)]),
        ("{{ fields.a | selectattr('x', 'equalto', fields.v) | list }}", [((F, "a"), 1), ((F, "v"), 1)]),
        ("{{ fields.a if fields.b else fields.c }}", [((F, "a"), 1), ((F, "b"), 1), ((F, "c"), 1)]),
        (
            "{% if request.environment == 'prod' %}\n{{ system.clusterName }}\n"
            "{% else %}{{ metadata.name }}{% endif %}",
            [(("request", "environment"), 1), (("system", "clusterName"), 2), (("metadata", "name"), 3)],
        ),
        ("{{ fields.tags[0] }}", [((F, "tags"), 1)]),
        ("{{ fields.m[1]['a'] }}", [((F, "m"), 1)]),
        ("{{ fields.name[0:3] }}", [((F, "name"), 1)]),
        ("{{ fields.a[fields.key].b }}", [((F, "a"), 1), ((F, "key"), 1)]),
        ("{{ fields.x is defined }}", [((F, "x"), 1)]),
        ("{{ (fields.a ~ 'x').upper() }}", [((F, "a"), 1)]),
        ("{{ {'k': fields.q}[fields.k] }}", [((F, "q"), 1), ((F, "k"), 1)]),
        ("{{ fields.a.b }}\n{{ fields.a }}\n{{ fields.a.b }}", [((F, "a", "b"), 1), ((F, "a"), 2)]),
        ("{{ range(3) | list }}{{ self }}", []),
        ("{% block b %}{{ fields.blk }}{% endblock %}", [((F, "blk"), 1)]),
        ("plain text", []),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, str) else "",
)
def test_find_references(source: str, expected: list[tuple[tuple[str, ...], int]]) -> None:
    assert paths(find_references(source)) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("fields.size == 'large'", [((F, "size"), 1)]),
        ("{{ fields.a and outputs.x.y }}", [((F, "a"), 1), (("outputs", "x", "y"), 1)]),
        ("fields.tags | select('equalto', request.name) | list", [((F, "tags"), 1), (("request", "name"), 1)]),
        ("true", []),
    ],
    ids=["bare", "wrapped", "filter-arguments", "constant"],
)
def test_find_references_in_expression(expression: str, expected: list[tuple[tuple[str, ...], int]]) -> None:
    assert paths(find_references_in_expression(expression)) == expected


@pytest.mark.parametrize(
    ("call", "source", "message", "line"),
    [
        (find_references, "a\n{{ fields.x.y }", "unexpected '}'", 2),
        (find_references_in_expression, "fields.a ==", "unexpected 'end of template'", 1),
        (find_references_in_expression, "{{ a }} {{ b }}", NOT_SINGLE, None),
    ],
    ids=["template", "expression", "not-single"],
)
def test_find_references_syntax_errors(call: Any, source: str, message: str, line: int | None) -> None:
    with pytest.raises(TemplateError) as caught:
        call(source)
    assert (caught.value.message, caught.value.line) == (message, line)


def test_template_reference_is_a_frozen_value() -> None:
    reference = TemplateReference(("fields", "dbName"), 3)
    assert str(reference) == "fields.dbName"
    assert reference == TemplateReference(("fields", "dbName"), 3)
    with pytest.raises(AttributeError):
        reference.line = 4  # type: ignore[misc]
