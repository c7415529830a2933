"""demandsync: customer demand onto Jira epics."""

__version__ = "0.1.0"
