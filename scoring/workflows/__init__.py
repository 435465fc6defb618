"""Workflows: the named operations that the CLI, the main job (``scoring demo``), the notebooks and
the test fixtures all call. Each is written once: fit, save, log, register, publish, list, report.

* :mod:`~scoring.workflows.workspace` — where a job reads and writes (:class:`Workspace`), the store
  rule, the date rule and how subjects are named;
* :mod:`~scoring.workflows.archive` — ingest an archive, look at a store, feature vectors;
* :mod:`~scoring.workflows.points` — fit and register the 信义金 card, score and publish, explain;
* :mod:`~scoring.workflows.grades` — fit and register an industry's grades, publish a grade list;
* :mod:`~scoring.workflows.lineage` — registry versions and aliases, justify a published result;
* :mod:`~scoring.workflows.delta` — a daily delta: ingest it, roll the publications forward for the
  touched subjects only;
* :mod:`~scoring.workflows.oversight` — monitoring, champion/challenger, model reports;
* :mod:`~scoring.workflows.demo` — the main job, a sequence of the above.
"""

from scoring.workflows.archive import (
    FeaturesResult,
    StoreInfo,
    build_feature_vectors,
    ingest_archive,
    open_sample_store,
    quarantine_rows,
    store_info,
)
from scoring.workflows.grades import (
    GradeFit,
    GradeList,
    explain_organisation,
    fit_and_register_grades,
    industry_config,
    load_grade_model,
    publish_grade_list,
    sample_industries,
)
from scoring.workflows.lineage import Promotion, justify_result, list_models, promote
from scoring.workflows.oversight import Report, compare_versions, monitor_grades, monitor_points, write_model_report
from scoring.workflows.points import (
    CardFit,
    ModelChoice,
    PersonExplanation,
    Scores,
    compare_with_expert,
    diff_person,
    explain_person,
    fit_and_register_card,
    load_card,
    publish_scores,
)
from scoring.workflows.workspace import Workspace, check_date, export_date, find_store, resolve_subject

__all__ = [
    "CardFit",
    "FeaturesResult",
    "GradeFit",
    "GradeList",
    "ModelChoice",
    "PersonExplanation",
    "Promotion",
    "Report",
    "Scores",
    "StoreInfo",
    "Workspace",
    "build_feature_vectors",
    "check_date",
    "compare_versions",
    "compare_with_expert",
    "diff_person",
    "explain_organisation",
    "explain_person",
    "export_date",
    "find_store",
    "fit_and_register_card",
    "fit_and_register_grades",
    "industry_config",
    "ingest_archive",
    "justify_result",
    "list_models",
    "load_card",
    "load_grade_model",
    "monitor_grades",
    "monitor_points",
    "open_sample_store",
    "promote",
    "publish_grade_list",
    "publish_scores",
    "quarantine_rows",
    "resolve_subject",
    "sample_industries",
    "store_info",
    "write_model_report",
]
