"""Graph + diagnostics -> :class:`~migdoc.model.Plan`. Pure: no disk, no clock.

Strategies (README, "Repairs (`migdoc fix`)"), one module each over :mod:`.context`:

- ``plan_archive`` (:mod:`.archive`, :mod:`.relink`, :mod:`.lines`): keep the main
  line (the ancestry, through ``down_revision`` and ``depends_on``, of the main head)
  and archive the rest; relink survivors whose parent left to their nearest surviving
  ancestor.
- ``plan_merge`` (:mod:`.merge`): one merge revision for the open heads, as ``alembic merge``.
- ``plan_renumber`` (:mod:`.renumber`): file names follow revision ids; ids never change.
- ``plan_rebase`` (:mod:`.rebase`): the newer branch's first revision re-pointed onto the other head.
- ``plan_reid`` (:mod:`.reid`): the copy of a duplicated id gets the id its name carries (or a fresh one).

Decisions of ours, where the SPEC is silent:

- Several files declaring one id: the main line keeps the copy with the
  longest path from a base; on a tie, the copy Alembic keeps (loaded last),
  because that is the one whose upgrade databases have run.
- "Only repeats an ancestor's upgrade" means: the same normalised body as a
  main-line ancestor (MD011), or every ``op.*`` call of it re-creates what a
  main-line ancestor created (MD012). A revision that also does other work
  is left for a human. ``# migdoc: ignore[MD011]`` / ``[MD012]`` in the file
  is honoured. A revision another survivor ``depends_on`` is never archived.
- A deliberate multi-branch layout (MD003 at info level) has no main line:
  ``--archive`` leaves it alone.
- The planner is given the clock (``FixOptions.now``) and the texts it may
  edit; the same inputs always give the same plan.

``plan_repairs`` combines the chosen ones, ``plan_overview`` shows each and ``recommend``
names the one plain ``fix`` recommends (:mod:`.overview`).
"""

from __future__ import annotations

from migdoc.fix.planner.archive import plan_archive
from migdoc.fix.planner.context import PlanContext
from migdoc.fix.planner.merge import plan_merge
from migdoc.fix.planner.overview import not_recommended, plan_overview, plan_repairs, recommend
from migdoc.fix.planner.renumber import new_stem, plan_renumber, unsafe_name_reason

__all__ = [
    "PlanContext",
    "new_stem",
    "not_recommended",
    "plan_archive",
    "plan_merge",
    "plan_overview",
    "plan_renumber",
    "plan_repairs",
    "recommend",
    "unsafe_name_reason",
]
