"""xinyi (信义): credit scoring and grading on public credit platforms (公共信用信息平台).

Library API (the CLI and notebooks call these):

* :func:`scoring.archive.catalog.load_catalog` — the record catalogue (信用信息目录);
* :func:`scoring.archive.store.open_store` — the embedded DuckDB store;
* :func:`scoring.ingest.ingest` — load a credit archive (信用档案) with quarantine;
* :func:`scoring.sample.generator.generate_sample` — a synthetic archive with a known truth.
"""

__version__ = "0.1.0"
