"""Template engine for catalog items: sandboxed Jinja rendering and static reference analysis.

Pure library code (no I/O). See DESIGN.md, "Templates".
"""

from orchestrator.templates.analysis import (
    TemplateReference,
    find_references,
    find_references_in_expression,
)
from orchestrator.templates.budget import (
    DEFAULT_MAX_OPERATIONS,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_TIME_BUDGET,
)
from orchestrator.templates.engine import compile_check, evaluate_condition, render, render_tree
from orchestrator.templates.errors import TemplateError
from orchestrator.templates.filters import b64decode, b64encode, dns_label, slug, to_json
from orchestrator.templates.sandbox import MAX_RANGE, TemplateEnvironment, make_environment

__all__ = [
    "DEFAULT_MAX_OPERATIONS",
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_TIME_BUDGET",
    "MAX_RANGE",
    "TemplateEnvironment",
    "TemplateError",
    "TemplateReference",
    "b64decode",
    "b64encode",
    "compile_check",
    "dns_label",
    "evaluate_condition",
    "find_references",
    "find_references_in_expression",
    "make_environment",
    "render",
    "render_tree",
    "slug",
    "to_json",
]
