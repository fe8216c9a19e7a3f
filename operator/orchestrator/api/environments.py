"""The operator's environments config: the `environment` template scope of each named environment."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .base import ApiModel, DnsLabel


class EnvironmentsConfig(ApiModel):
    """Environments by name; the request's ``spec.environment`` selects one, ``default`` applies otherwise.

    Stored under the key ``environments.yaml`` of the operator's environments ConfigMap (or a local file for
    ``devctl``). Each environment's settings are free-form and become the ``environment`` template scope.
    """

    default: DnsLabel | None = None
    environments: dict[DnsLabel, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_exists(self) -> EnvironmentsConfig:
        if self.default is not None and self.default not in self.environments:
            raise ValueError(f"default environment '{self.default}' is not one of the environments")
        return self

    def resolve(self, name: str | None) -> str | None:
        """The environment a request with ``spec.environment = name`` gets, or None if there is none."""
        chosen = name or self.default
        return chosen if chosen in self.environments else None
