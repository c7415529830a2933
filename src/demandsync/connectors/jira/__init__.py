"""Jira: the tracker demand is written to (:mod:`.tracker`), and a source feedback can come from
(:mod:`.source`). ADF (:mod:`.adf`) and the managed summary's rendering (:mod:`.render`) are Jira's
own formats and live here too."""

from demandsync.connectors.jira.source import JiraSource
from demandsync.connectors.jira.tracker import JiraTracker

__all__ = ["JiraSource", "JiraTracker"]
