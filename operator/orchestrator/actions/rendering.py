"""An action's rendered input without a runner: the same pure render functions the runners call.

For offline tools (``devctl test variables``) that must show exactly what the operator would hand to an action,
without building the runners' clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..api.actions import Action
from ..redaction import Redactor
from .http import render_http
from .jira import render_jira, ticket_scope
from .terraform import render_terraform
from .workspace import render_workspace

Renderer = Callable[[Action, Mapping[str, Any], Redactor], dict[str, Any]]

RENDERERS: dict[str, Renderer] = {
    "jira": render_jira,
    "terraform": render_terraform,
    "workspace": render_workspace,
    "http": render_http,
}


def render_action(action: Action, scopes: Mapping[str, Any], redactor: Redactor | None = None) -> dict[str, Any]:
    """The rendered input the action's runner would get. Raises ``TemplateError`` located at the failing field
    (``terraform.variables.name``, ``http.url``, ...)."""
    return RENDERERS[action.type](action, scopes, redactor if redactor is not None else Redactor())


__all__ = ["RENDERERS", "render_action", "ticket_scope"]
