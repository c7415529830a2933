"""Target fields per project, for sites with team-managed projects.

A team-managed (next-gen) project owns its custom fields: three projects can
each have a "Customer requests" field, with three ids, and ``GET /field`` lists
all of them (each with ``scope: {type: PROJECT, project: {...}}``). Resolving
the name site-wide then fails as ambiguous, and no single id is right.

What is on an issue's edit screen is, by definition, what can be written to
it, so the per-project answer is the epic's edit metadata
(``GET /issue/{key}/editmeta``): resolve each ``[jira.fields]`` reference
among the fields on the screen of one epic per project, with the same rules
(id, then unique name) and type checks as the site-wide resolution. One
request per project per run; company-managed projects give the same answer
as before, so this is safe to use everywhere. Config ids (``customfield_…``)
still pin one field everywhere.

Usage in a run (instead of one ``resolve_targets`` + ``plan_writes``)::

    by_project = resolve_targets_per_project(tracker, settings.jira.fields, sample_epics)
    epics = list(tracker.epics(jql, by_project.field_ids()))
    plan = plan_writes_per_project(epics, demand, by_project)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from demandsync.connectors.base import Tracker
from demandsync.domain import Epic, TrackerField
from demandsync.sync.demand import Demand
from demandsync.sync.writeback import PlannedWrite, Target, TargetError, plan_writes, resolve_targets


@dataclass(slots=True)
class ProjectTargets:
    """``project key -> targets``; projects whose fields could not be resolved are in ``problems``."""

    by_project: dict[str, list[Target]] = field(default_factory=dict)
    #: ``(config key, message naming the project)``, as :class:`TargetError` has them.
    problems: list[tuple[str, str]] = field(default_factory=list)

    def field_ids(self) -> list[str]:
        """Every target field id of every project (what to read with the epics)."""
        return list(dict.fromkeys(t.field.id for ts in self.by_project.values() for t in ts))

    def for_project(self, project: str | None) -> list[Target]:
        return self.by_project.get(project or "", [])


def ambiguous_refs(refs: Mapping[str, str], fields: Sequence[TrackerField]) -> dict[str, list[str]]:
    """``figure -> candidate field ids`` for refs that name several fields site-wide
    (the team-managed case). Ids never are ambiguous."""
    out: dict[str, list[str]] = {}
    for figure, ref in refs.items():
        if any(f.id == ref.strip() for f in fields):
            continue
        same = [f.id for f in fields if f.name.casefold() == ref.strip().casefold()]
        if len(same) > 1:
            out[figure] = same
    return out


def resolve_targets_per_project(
    tracker: Tracker, refs: Mapping[str, str], epics: Iterable[Epic],
    fields: Sequence[TrackerField] | None = None,
) -> ProjectTargets:
    """Resolve ``figure -> field ref`` once per project, among the fields on the edit screen of the
    first epic of that project (epics without a project are resolved on their own key)."""
    site = {f.id: f for f in (fields if fields is not None else tracker.fields())}
    samples: dict[str, str] = {}
    for epic in epics:
        samples.setdefault(epic.project or epic.key, epic.key)
    out = ProjectTargets()
    for project, sample in samples.items():
        screen = tracker.editable_fields(sample)
        on_screen = [site.get(fid) or TrackerField(id=fid, name=name) for fid, name in screen.items()]
        try:
            out.by_project[project] = resolve_targets(refs, on_screen, section=getattr(tracker, "section", "jira"),
                                                      tracker=getattr(tracker, "display_name", "Jira"))
        except TargetError as exc:
            out.problems += [
                (key, f"project {project} (checked on {sample}'s edit screen): {message}")
                for key, message in exc.problems
            ]
    return out


def plan_writes_per_project(
    epics: Sequence[Epic], demand: Mapping[str, Demand], targets: ProjectTargets
) -> list[PlannedWrite]:
    """:func:`~demandsync.sync.writeback.plan_writes`, each epic against its own project's fields."""
    plan: list[PlannedWrite] = []
    for epic in epics:
        plan += plan_writes([epic], demand, targets.for_project(epic.project or epic.key))
    return plan
