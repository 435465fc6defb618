"""Benchmark: the realised prevalences of the sample profiles, side by side with the targets.

Generates one archive per profile (same seed and size), measures it from its files with
``scoring.sample.prevalence.measure`` and prints each measure beside the realistic profile's target
band and source. A measure outside its band is marked ``!``.

    python bench/sample_profiles.py                         # 20,000 persons, 5,000 organisations
    python bench/sample_profiles.py --persons 200000 --organisations 50000 --seed 7
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from scoring.sample.generator import generate_sample
from scoring.sample.prevalence import MEASURES, Prevalence, measure
from scoring.sample.profiles import SampleProfile, load_profile

SHARES = {m for m in MEASURES if not m.startswith("persons_records_")}


def _fmt(v: float | None, measure_name: str) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if measure_name in SHARES else f"{v:.2f}"


def _band(prof: SampleProfile, m: str) -> str:
    t = prof.targets.get(m)
    if t is None:
        return ""
    lo = _fmt(t.low, m) if t.low is not None else ""
    hi = _fmt(t.high, m) if t.high is not None else ""
    aim = _fmt(t.value, m) if t.value is not None else ""
    return f"{aim} [{lo}, {hi}]".strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--organisations", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--profiles", default="realistic,stress")
    ap.add_argument("--workdir", default=None, help="keep the archives here (default: a temporary folder)")
    args = ap.parse_args()

    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    profiles = {n: load_profile(n) for n in names}
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="xinyi-profiles-"))
    results: dict[str, Prevalence] = {}
    timing: dict[str, float] = {}
    try:
        for n, prof in profiles.items():
            out = work / n
            if out.exists():
                shutil.rmtree(out)
            t0 = time.perf_counter()
            generate_sample(out, seed=args.seed, persons=args.persons, organisations=args.organisations, profile=prof)
            timing[n] = time.perf_counter() - t0
            results[n] = measure(out)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    ref = profiles.get("realistic") or next(iter(profiles.values()))
    print(
        f"sample profiles: seed {args.seed}, {args.persons:,} persons, {args.organisations:,} organisations; "
        f"targets of the {ref.name} profile (configs/sample/{ref.name}.yaml)\n"
    )
    head = ["measure", f"target ({ref.name})", *names]
    rows = []
    for m in MEASURES:
        cells = [m, _band(ref, m)]
        t = ref.targets.get(m)
        for n in names:
            v = results[n].values.get(m)
            mark = " !" if t is not None and v is not None and not t.holds(v) else ""
            cells.append(_fmt(v, m) + mark)
        rows.append(cells)
    rows.append(["records", "", *[f"{results[n].records:,}" for n in names]])
    rows.append(
        [
            "records per subject",
            "",
            *[f"{results[n].records / max(1, results[n].persons + results[n].organisations):.1f}" for n in names],
        ]
    )
    rows.append(["generation seconds", "", *[f"{timing[n]:.1f}" for n in names]])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print("\npenalties (ADM_PENALTY) by publicity regime:")
    for n in names:
        print(f"  {n}: " + ", ".join(f"{k} {v:,}" for k, v in results[n].penalties_by_regime.items()))
    print("\nsources of the targets:")
    for m, t in ref.targets.items():
        print(f"  {m}: {t.source}")
    own = results.get(ref.name or "")
    if own is not None:
        failed = [m for m, t in ref.targets.items() if m in own.values and not t.holds(own.values[m])]
        print(f"\n{ref.name}: " + (f"outside the target band: {', '.join(failed)}" if failed else "every target met"))


if __name__ == "__main__":
    main()
