"""信义金 workflows: fit and register the card, score and publish everyone, explain one person.

Which card scores (:func:`load_card`): a card file when given, else the registered version of an
alias or a version number, by default the registry's ``champion`` in the workspace's MLflow store.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.core.errors import DataError, NotFoundError
from scoring.core.inert import write_csv
from scoring.lineage.registry import POINTS_NAME, Registered
from scoring.points.card import PointsCard
from scoring.workflows.workspace import Progress, Workspace, check_date, not_found, quiet, resolve_subject


@dataclass(frozen=True)
class ModelChoice:
    """Which model to use: a file, or a registered version (``version``) or alias (default champion)."""

    file: Path | None = None
    alias: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.file is not None and (self.alias or self.version):
            raise DataError("give a model file or a registered alias/version, not both")
        if self.alias and self.version:
            raise DataError("give an alias or a version, not both")

    @property
    def registered(self) -> bool:
        return self.file is None


def load_registered_model(ws: Workspace, name: str, choice: ModelChoice) -> tuple[object, Registered]:
    """A registered model (card or grade model) by version or alias (default champion)."""
    from scoring.lineage.registry import load_registered

    with not_found():
        if choice.version:
            return load_registered(ws.tracking_uri, name, alias=None, version=choice.version)
        return load_registered(ws.tracking_uri, name, alias=choice.alias or "champion")


def load_card(ws: Workspace, choice: ModelChoice = ModelChoice()) -> tuple[PointsCard, Registered | None]:
    """The card that scores: ``choice.file``, else the registered version or alias (default champion)."""
    if choice.file is not None:
        if not choice.file.exists():
            raise NotFoundError(f"{choice.file}: no card here; fit one with `scoring points fit --out {choice.file}`")
        return PointsCard.load(choice.file), None
    card, reg = load_registered_model(ws, POINTS_NAME, choice)
    assert isinstance(card, PointsCard)
    return card, reg


def card_label(reg: Registered | None, choice: ModelChoice) -> str:
    return f"{reg.name} v{reg.version}" if reg else str(choice.file)


@dataclass(frozen=True)
class CardFit:
    """A fitted card: where it was saved, its hold-out evidence, its MLflow run and registry version."""

    card: PointsCard
    evidence: dict
    path: Path
    evidence_path: Path
    run_id: str
    registered: Registered

    def to_dict(self) -> dict:
        ev = self.evidence
        return {
            "card": str(self.path),
            "evidence": str(self.evidence_path),
            "mlflow_run_id": self.run_id,
            "registered": f"{self.registered.name} v{self.registered.version}",
            "aliases": list(self.registered.aliases),
            **{k: ev[k] for k in ("auc", "gini", "ks", "brier", "ece", "holdout_cutoff", "holdout_rows")},
        }


def fit_and_register_card(
    store: Store,
    ws: Workspace,
    *,
    config: str | Path | None = None,
    out: str | Path | None = None,
    alias: str | None = None,
    progress: Progress = quiet,
) -> CardFit:
    """Fit the card on rolling cut-offs and check it on the hold-out; save it (default
    ``<workspace>/models/points_card.json``) with its evidence; log the run to MLflow and register
    the next version of ``xinyi-points-card`` (``champion`` when there is none, else ``challenger``)."""
    from scoring.features.builder import FeatureBuilder
    from scoring.lineage.configs import log_bundle
    from scoring.lineage.registry import register_next
    from scoring.lineage.tracking import log_points_fit
    from scoring.points.personal import fit_card, load_card_config

    progress("信义金 card: fit on rolling cut-offs, check on the hold-out")
    card, ev = fit_card(store, load_card_config(config))
    path = Path(out) if out else ws.path("models", "points_card.json")
    card.save(path)
    evidence_path = path.with_name(path.stem + ".evidence.json")
    evidence_path.write_text(json.dumps(ev, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    progress("信义金 card: log to MLflow and register")
    run_id = log_points_fit(card, ev, store, tracking_uri=ws.tracking_uri, artifacts=ws.artifacts)
    log_bundle(ws.tracking_uri, run_id)  # 配置版本: the configs this fit ran with (scoring.lineage.configs)
    example = FeatureBuilder(store, subjects="persons").at(ev["holdout_cutoff"]).values
    reg = register_next(ws.tracking_uri, POINTS_NAME, path, "card", run_id, example, alias)
    return CardFit(card, ev, path, evidence_path, run_id, reg)


@dataclass(frozen=True)
class Scores:
    """Every person's score (or suspension) as of a date, and the publication when published."""

    scores: pd.DataFrame  # subject_id, status, points, reason, suspended_until, as_of
    as_of: dt.date
    card: str
    publication: dict | None = None
    out: Path | None = None

    @property
    def scored(self) -> pd.Series:
        return self.scores.loc[self.scores["status"] == "scored", "points"].astype(float)

    def quantiles(self) -> dict[str, float]:
        s = self.scored
        return {f"p{int(q * 100):02d}": float(s.quantile(q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)} if len(s) else {}

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "persons": int(len(self.scores)),
            "scored": int(len(self.scored)),
            "suspended": int((self.scores["status"] == "suspended").sum()),
            "points_quantiles": self.quantiles(),
            "card": self.card,
            "publication": self.publication["publication_id"] if self.publication else None,
            "out": str(self.out) if self.out else None,
        }


def write_scores(store: Store, scores: pd.DataFrame, out: str | Path) -> Path:
    """Scores under keyed pseudonyms (``subject_key``) to .csv or .parquet."""
    from scoring.features.export import subject_keys

    path = Path(out)
    exp = scores.copy()
    exp.insert(0, "subject_key", subject_keys(exp.pop("subject_id"), store.pseudonym_key))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        exp.to_parquet(path, index=False)
    else:
        write_csv(exp, path)
    return path


def publish_scores(
    store: Store,
    ws: Workspace,
    as_of: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    out: str | Path | None = None,
    publish: bool = False,
    serving: str | None = None,
    progress: Progress = quiet,
) -> Scores:
    """Score every person as of a date (suspended persons get no number); write the scores to
    ``out`` under keyed pseudonyms; with ``publish`` record them as a publication naming the
    registered card version (a card file cannot be published), and with ``serving`` (a serving
    database URL) push it there right after (:func:`scoring.serving.push.push_published_scores`)."""
    from scoring.lineage.publish import score_rows
    from scoring.points.personal import score_persons
    from scoring.workflows.lineage import publish_rows

    day = check_date(store, as_of)
    if publish and not choice.registered:
        raise DataError("publishing needs a registered card (--alias/--version), not a card file")
    card, reg = load_card(ws, choice)
    progress(f"信义金: scoring every person as of {day} with {card_label(reg, choice)}")
    df = score_persons(store, card, day)
    path = write_scores(store, df, out) if out else None
    pub = None
    if publish and reg is not None:
        progress("信义金: recording the publication")
        pub = publish_rows(
            store,
            reg,
            kind="score_snapshot",
            scope="persons",
            as_of=day,
            rows=score_rows(df),
            files=[path] if path else [],
        )
        if serving is not None:
            from scoring.serving.database import connect
            from scoring.serving.push import push_published_scores

            progress("信义金: pushing the snapshot into the serving database")
            eng = connect(serving)
            try:
                with eng.begin() as conn:
                    push_published_scores(conn, store, publication=pub, card=card, scores=df)
            finally:
                eng.dispose()
    return Scores(df, day, card_label(reg, choice), pub, path)


@dataclass(frozen=True)
class PersonExplanation:
    """One person's line items with their records, guidance and scene eligibility (IDs masked)."""

    explanation: dict
    guidance: list[dict] = field(default_factory=list)
    scenes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.explanation, "guidance": self.guidance, "scenes": self.scenes}

    def text(self) -> str:
        """The explanation as the person reads it (plain Chinese lines, :mod:`scoring.points.wording`)."""
        from scoring.points.wording import explanation_text

        return explanation_text(self.explanation, self.guidance, self.scenes)


def _given_or_loaded(ws: Workspace, choice: ModelChoice, card: PointsCard | None) -> PointsCard:
    """The card a caller passed in (a notebook's fitted card), else the one :func:`load_card` picks."""
    return card if card is not None else load_card(ws, choice)[0]


def explain_person(
    store: Store,
    ws: Workspace,
    subject: str,
    as_of: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    card: PointsCard | None = None,
    progress: Progress = quiet,
) -> PersonExplanation:
    """One person's 信义金 as they can read it: the items that carry points with the records behind
    them, what they can do (guidance) and the scenes they are eligible for; for a suspended person the
    suspension, its documents and how to leave the list instead, and no points. ``subject``: ID
    number or keyed pseudonym; not a person of the archive: NotFoundError."""
    from scoring.points import personal
    from scoring.points.guidance import guidance

    day = check_date(store, as_of)
    sid = resolve_subject(store, subject)
    c = _given_or_loaded(ws, choice, card)
    progress("信义金: line items, records and guidance")
    with not_found():
        e = personal.explain_person(store, c, sid, day)
        actions = guidance(store, c, sid, day)["actions"]
    scenes = personal.eligibility(e["points"], e["status"], personal.load_scenes())
    return PersonExplanation(e, actions, scenes)


def guide_person(
    store: Store,
    ws: Workspace,
    subject: str,
    as_of: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    card: PointsCard | None = None,
) -> dict:
    """What a person can do as of a date (:func:`scoring.points.guidance.guidance`): lawful actions
    with the points each adds; for a suspended person only how to leave the list. Not a person:
    NotFoundError."""
    from scoring.points.guidance import guidance

    day = check_date(store, as_of)
    sid = resolve_subject(store, subject)
    c = _given_or_loaded(ws, choice, card)
    with not_found():
        return guidance(store, c, sid, day)


def diff_person(
    store: Store,
    ws: Workspace,
    subject: str,
    date_from: dt.date | str,
    date_to: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    card: PointsCard | None = None,
) -> dict:
    """Why a person's points moved between two dates: parts per record summing to the change; a
    suspended date shows its status and reason, never a number. Not a person: NotFoundError."""
    from scoring.points import diff

    d1, d2 = check_date(store, date_from, "--from"), check_date(store, date_to, "--to")
    if d2 < d1:
        raise DataError(f"--to {d2} is before --from {d1}; give the earlier date first")
    sid = resolve_subject(store, subject)
    c = _given_or_loaded(ws, choice, card)
    with not_found():
        return diff.diff_person(store, c, sid, d1, d2)


def compare_with_expert(
    store: Store,
    ws: Workspace,
    cutoff: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    expert: str | Path | None = None,
) -> pd.DataFrame:
    """The fitted card (by default the champion) and the expert card on the same persons and outcome."""
    from scoring.points.personal import compare_cards, load_expert_person_card

    day = check_date(store, cutoff, "--cutoff")
    card, _ = load_card(ws, choice)
    return compare_cards(store, {"fitted": card, "expert": load_expert_person_card(expert)}, day)
