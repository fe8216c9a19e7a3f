"""Platform Orchestrator: a Kubernetes operator that turns a self-service catalog into fulfilled infrastructure."""

__version__ = "0.1.0"
