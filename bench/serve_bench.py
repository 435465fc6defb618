"""Benchmark: the platform service (``scoring serve``) under load on loopback, SQLite and PostgreSQL.

A serving database is filled with ``--organisations`` organisations (``scoring.serving.synthetic.fill``:
published grade lists of every configured industry, two periods each), a regulator is created with
an API token, and ``scoring serve`` starts in its own process (uvicorn on 127.0.0.1). Then
``--clients`` asyncio clients (httpx, one keep-alive connection each, logged in) hit, one phase per
endpoint and then all mixed, for ``--seconds`` each:

- ``organisation``: the organisation page ``/organisations/{USCC}`` (a session, purpose chosen),
  a random organisation of the regulator's industry each time;
- ``list_api``: ``/api/v1/lists/{id}?offset=..&limit=50`` (Bearer token, ``X-Purpose``), a random page;
- ``download``: the list workbook ``/api/v1/lists/{id}/download`` of the regulator's scope (its
  industry's largest list in the districts whose rows come nearest to 5,000);
- ``healthz``: the peer, ``/healthz`` of the same server (no database, no template): the floor
  of uvicorn + FastAPI + the bench's own clients on the same 2 cores;
- ``mixed``: every client picks organisation 70 %, list_api 25 %, download 5 %;
- ``alone`` (first): one client, all three endpoints: each request's own cost, no queueing.

It prints p50 / p99 / max latency, errors (any non-200 or transport error) and throughput per
endpoint and phase, and each endpoint's p50 against the healthz peer. ``--backend both`` runs SQLite
then PostgreSQL in the same run and prints the PostgreSQL / SQLite ratio. The clients run in this
process, on the same 2 cores as the server: the figures include their cost. Stops by itself (each
phase lets the requests in flight finish). The database and the server's log stay in
``bench/out/serve-<backend>/``.

    python bench/serve_bench.py --backend sqlite --organisations 100000 --clients 20 --seconds 30
    python bench/serve_bench.py --backend both --organisations 100000 --clients 20 --seconds 30
    python bench/serve_bench.py ... --profile bench/out/profile   # py-spy on the server per phase
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-信义-2026"
DOWNLOAD_ROWS = 5000
MIX = (("organisation", 0.70), ("list_api", 0.25), ("download", 0.05))


@dataclass
class Target:
    """What the clients ask for: the regulator, its list, organisations and the download filter."""

    username: str
    token: str
    purpose: str
    publication_id: str
    organisations: list[str]
    list_rows: int
    download_query: dict[str, str]
    download_rows: int
    fill_seconds: float
    fill: dict[str, Any] = field(default_factory=dict)
    scope: tuple[str, tuple[str, ...]] = ("", ())


def prepare(url: str, organisations: int, seed: int) -> Target:
    """Fill the serving database and create the regulator: one industry (the largest list) and the
    districts whose rows in that list come nearest to 5,000, so the download of its whole list in
    scope is a 5,000-row workbook (a regulator's scope is a few districts)."""
    import sqlalchemy as sa

    from scoring.serving import database, identity, schema, synthetic
    from tests.service_harness import purpose_for

    eng = database.connect(url)
    t0 = time.perf_counter()
    filled = synthetic.fill(eng, organisations=organisations, seed=seed)
    fill_seconds = time.perf_counter() - t0
    with eng.connect() as c:
        latest = c.execute(
            sa.text(
                "SELECT p.scope, p.publication_id, count(*) AS n FROM publications p JOIN grade_entries g "
                "ON g.publication_id = p.publication_id WHERE p.kind = 'grade_list' AND p.as_of = "
                "(SELECT max(as_of) FROM publications q WHERE q.scope = p.scope AND q.kind = 'grade_list') "
                "GROUP BY p.scope, p.publication_id ORDER BY n DESC, p.scope"
            )
        ).all()
        industry, pid, _n = latest[0]
        per_region = c.execute(
            sa.text(
                "SELECT region_code, count(*) FROM grade_entries WHERE publication_id = :p "
                "GROUP BY region_code ORDER BY region_code"
            ),
            {"p": pid},
        ).all()
        regions: list[str] = []
        n_rows = 0
        for region, n in per_region:
            if n_rows and abs(n_rows + n - DOWNLOAD_ROWS) >= abs(n_rows - DOWNLOAD_ROWS):
                break
            regions.append(region)
            n_rows += int(n)
        g = schema.grade_entries
        chosen = sa.select(g.c.subject_id).where(g.c.publication_id == pid, g.c.region_code.in_(regions))
        subjects: list[str] = [str(x) for x in c.execute(chosen).scalars()]
    with eng.begin() as c:
        user = identity.create_user(
            c,
            "bench_regulator",
            PASSWORD,
            "regulator",
            display_name="压测监管员",
            agency="市场监管局",
            industries=(industry,),
            regions=tuple(regions),
        )
        token = identity.issue_token(c, user, "serve_bench")
    eng.dispose()
    return Target(
        username=user.username,
        token=token,
        purpose=purpose_for("regulator"),
        publication_id=pid,
        organisations=subjects,
        list_rows=n_rows,
        download_query={},
        download_rows=n_rows,
        fill_seconds=fill_seconds,
        fill={k: v for k, v in filled.items() if k != "publications"},
        scope=(industry, tuple(regions)),
    )


# -- the clients ------------------------------------------------------------------------------------
class Client:
    def __init__(self, base: str, target: Target, rng: random.Random):
        import httpx

        self.t, self.rng = target, rng
        self.api = httpx.AsyncClient(
            base_url=base,
            timeout=300.0,
            headers={"Authorization": f"Bearer {target.token}", "X-Purpose": target.purpose},
        )
        self.page = httpx.AsyncClient(base_url=base, timeout=300.0, follow_redirects=False)

    async def login(self) -> None:
        import re

        def csrf(html: str) -> str:
            m = re.search(r'name="csrf_token"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf_token"', html)
            if not m:
                raise RuntimeError("no csrf_token in the form")
            return m.group(1) or m.group(2)

        r = await self.page.get("/login")
        r = await self.page.post(
            "/login", data={"username": self.t.username, "password": PASSWORD, "csrf_token": csrf(r.text)}
        )
        if r.status_code not in (302, 303):
            raise RuntimeError(f"login: {r.status_code} {r.text[:200]}")
        r = await self.page.get("/purpose")
        r = await self.page.post("/purpose", data={"purpose": self.t.purpose, "csrf_token": csrf(r.text)})
        if r.status_code not in (302, 303):
            raise RuntimeError(f"purpose: {r.status_code} {r.text[:200]}")

    async def hit(self, endpoint: str) -> tuple[bool, int]:
        """One request: (answered 200, status)."""
        t = self.t
        if endpoint == "organisation":
            r = await self.page.get(f"/organisations/{self.rng.choice(t.organisations)}")
        elif endpoint == "list_api":
            offset = self.rng.randrange(0, max(1, t.list_rows - 50))
            r = await self.api.get(f"/api/v1/lists/{t.publication_id}", params={"offset": offset, "limit": 50})
        elif endpoint == "download":
            r = await self.api.get(f"/api/v1/lists/{t.publication_id}/download", params=t.download_query)
        elif endpoint == "healthz":
            r = await self.api.get("/healthz")
        else:
            raise ValueError(endpoint)
        return r.status_code == 200, r.status_code

    async def warm(self) -> None:
        """Before a phase, not measured: a keep-alive connection idle since the last phase may have been
        closed by the server (uvicorn's keep-alive timeout); one unmeasured request each reopens it."""
        import httpx

        for http in (self.api, self.page):
            try:
                await http.get("/healthz")
            except httpx.TransportError:
                await http.get("/healthz")

    async def close(self) -> None:
        await self.api.aclose()
        await self.page.aclose()


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def run_phase(clients: list[Client], endpoints: tuple[tuple[str, float], ...], seconds: float) -> Figures:
    fig = Figures(latencies={e: [] for e, _ in endpoints})
    names = [e for e, _ in endpoints]
    weights = [w for _, w in endpoints]
    deadline = time.perf_counter() + seconds

    async def loop(c: Client) -> None:
        while time.perf_counter() < deadline:
            e = c.rng.choices(names, weights)[0]
            t0 = time.perf_counter()
            status = 0
            try:
                ok, status = await c.hit(e)
            except Exception as exc:  # transport errors count as errors, the run goes on
                ok = False
                if len(fig.error_samples) < 5:
                    fig.error_samples.append(f"{e}: {type(exc).__name__}: {exc}")
            fig.latencies[e].append(time.perf_counter() - t0)
            if not ok:
                fig.errors[e] += 1
                if status and len(fig.error_samples) < 5:
                    fig.error_samples.append(f"{e}: HTTP {status}")

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in clients))
    fig.seconds = time.perf_counter() - t0
    return fig


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def check_download(base: str, t: Target) -> int:
    """One download before the timed run: a real workbook with the expected number of rows."""
    import httpx
    from openpyxl import load_workbook

    r = httpx.get(
        f"{base}/api/v1/lists/{t.publication_id}/download",
        params=t.download_query,
        timeout=120,
        headers={"Authorization": f"Bearer {t.token}", "X-Purpose": t.purpose},
    )
    r.raise_for_status()
    ws = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    return sum(1 for row in ws.iter_rows(values_only=True) if any(v is not None for v in row))


class Profiler:
    """py-spy on the server process during a phase (``--profile DIR``): raw collapsed stacks, top frames."""

    def __init__(self, folder: Path | None, pid: int):
        self.folder, self.pid = folder, pid
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: Path | None = None

    def start(self, name: str, seconds: float) -> None:
        if self.folder is None:
            return
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.out = self.folder / f"{name}.txt"
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--subprocesses",
                "--duration",
                str(int(seconds)),
                "--output",
                str(self.out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> list[tuple[str, float]]:
        if self.proc is None or self.out is None:
            return []
        self.proc.wait(timeout=120)
        self.proc = None
        self_time: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            frames = stack.split(";")
            total += int(n)
            # the innermost frame of xinyi, sqlalchemy, jinja2, openpyxl/xlsxwriter... (skip the event loop)
            self_time[frames[-1]] += int(n)
        return [(f, n / total) for f, n in self_time.most_common(12)] if total else []


def bench_backend(backend: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from tests.service_harness import ServiceProcess

    pg = None
    if backend == "sqlite":
        url = f"sqlite:///{out / 'serving.sqlite'}"
    else:
        from tests.postgres import PostgresServer, pg_bin

        bin_dir = pg_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL is not installed (make postgres)")
        pg = PostgresServer(bin_dir).start()
        url = pg.new_database("bench")
    try:
        print(f"\n== {backend}: filling {args.organisations:,} organisations ...", flush=True)
        t = prepare(url, args.organisations, args.seed)
        print(f"   filled in {t.fill_seconds:.1f} s: {json.dumps(t.fill, ensure_ascii=False, default=str)}")
        print(
            f"   regulator scope {t.scope[0]} x {len(t.scope[1])} districts {','.join(t.scope[1])}: list "
            f"{t.publication_id}, {t.list_rows:,} rows in scope (the download: all of them)"
        )
        with ServiceProcess(url, log=out / f"serve-{backend}.log", workers=args.workers) as svc:
            assert svc.proc is not None
            rows = check_download(svc.base, t)
            print(f"   download checked: {rows - 1:,} data rows (+ header) in the workbook", flush=True)
            return asyncio.run(_phases(svc.base, svc.proc.pid, t, args, backend))
    finally:
        if pg is not None:
            pg.stop()


async def _phases(base: str, pid: int, t: Target, args: argparse.Namespace, backend: str) -> dict[str, Any]:
    clients = [Client(base, t, random.Random(args.seed * 1000 + i)) for i in range(args.clients)]
    await asyncio.gather(*(c.login() for c in clients))
    profiler = Profiler(Path(args.profile) / backend if args.profile else None, pid)
    phases: dict[str, tuple[tuple[str, float], ...]] = {
        "alone": (("organisation", 1.0), ("list_api", 1.0), ("download", 0.2)),
        "healthz": (("healthz", 1.0),),
        "organisation": (("organisation", 1.0),),
        "list_api": (("list_api", 1.0),),
        "download": (("download", 1.0),),
        "mixed": MIX,
    }
    results: dict[str, Any] = {}
    try:
        for name, endpoints in phases.items():
            if args.only and name not in args.only:
                continue
            n = 1 if name == "alone" else args.clients
            print(f"   phase {name}: {n} client(s), {args.seconds:.0f} s ...", flush=True)
            await asyncio.gather(*(c.warm() for c in clients[:n]))
            profiler.start(name, args.seconds)
            fig = await run_phase(clients[:n], endpoints, args.seconds)
            top = profiler.stop()
            results[name] = fig
            if top:
                print(f"   py-spy top frames in phase {name} (share of samples):")
                for frame, share in top:
                    print(f"     {share:6.1%}  {frame[:150]}")
            if fig.error_samples:
                print("   errors: " + "; ".join(fig.error_samples))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return results


def table(backend: str, results: dict[str, Figures]) -> list[dict[str, Any]]:
    floor = pct(results["healthz"].latencies["healthz"], 0.5) if "healthz" in results else float("nan")
    rows = []
    for phase, fig in results.items():
        for endpoint, lat in fig.latencies.items():
            if not lat:
                continue
            p50 = pct(lat, 0.5)
            rows.append(
                {
                    "backend": backend,
                    "phase": phase,
                    "endpoint": endpoint,
                    "requests": len(lat),
                    "errors": fig.errors[endpoint],
                    "p50_ms": 1000 * p50,
                    "p99_ms": 1000 * pct(lat, 0.99),
                    "max_ms": 1000 * max(lat),
                    "per_s": len(lat) / fig.seconds,
                    "p50_vs_healthz": p50 / floor if phase != "alone" else float("nan"),  # healthz ran at 20 clients
                }
            )
    return rows


TARGETS = {"organisation": 200.0, "download": 1000.0}  # p99 ms (issue 15 point 7)


def show(rows: list[dict[str, Any]]) -> None:
    head = (
        "backend",
        "phase",
        "endpoint",
        "requests",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "p50/healthz",
        "target p99",
    )
    lines = [head]
    for r in rows:
        tgt = TARGETS.get(r["endpoint"])
        mark = "" if tgt is None else (f"< {tgt:.0f} ok" if r["p99_ms"] < tgt else f"< {tgt:.0f} MISSED")
        lines.append(
            (
                r["backend"],
                r["phase"],
                r["endpoint"],
                f"{r['requests']:,}",
                str(r["errors"]),
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
                f"{r['per_s']:.1f}",
                f"{r['p50_vs_healthz']:.1f}x",
                mark,
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print(" | ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)))
        if i == 0:
            print("-|-".join("-" * w for w in widths))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--organisations", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0, help="per phase")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers of scoring serve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="phases to run (healthz organisation list_api download mixed)")
    ap.add_argument("--profile", help="folder for py-spy's raw stacks of the server, one file per phase")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for backend in backends:
        out = ROOT / "bench" / "out" / f"serve-{backend}"  # the database and the server's log stay here
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        rows += table(backend, bench_backend(backend, args, out))
    print(
        f"\n{args.organisations:,} organisations, {args.clients} clients, {args.seconds:.0f} s per phase, "
        f"{args.workers} worker(s); total {time.perf_counter() - started:.0f} s"
    )
    show(rows)
    if len(backends) == 2:
        print("\nPostgreSQL / SQLite, p50 and p99 per phase and endpoint:")
        by = {(r["backend"], r["phase"], r["endpoint"]): r for r in rows}
        for (b, phase, endpoint), r in by.items():
            other = by.get(("postgresql", phase, endpoint))
            if b == "sqlite" and other:
                print(
                    f"  {phase:12} {endpoint:12} p50 {other['p50_ms'] / r['p50_ms']:.2f}x  "
                    f"p99 {other['p99_ms'] / r['p99_ms']:.2f}x"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
