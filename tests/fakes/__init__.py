"""In-process fakes of external services (a JIRA speaking REST v2 over real HTTP, with fault injection)."""
