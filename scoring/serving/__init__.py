"""The serving database (服务库): what the platform service shows, pushed there by the publish
operations, so ingests and refits run on the analytical store while the service serves.

Relational through SQLAlchemy, with Alembic migrations: a SQLite file by default (embedded, nothing
to start) and PostgreSQL in production. It holds published outputs only (grade lists with their
reasons, vetoes, probabilities and supervision measures; score snapshots with their line items and
records; justification summaries), the platform's users and roles, the query register
(查询使用登记) and the inspection plans drawn. No raw ID number is ever stored in it: persons appear
under the store's keyed pseudonym (``subject_key``), legal representatives by a masked name.
"""

__all__: list[str] = []  # one module per concept: schema, database, push, queries, identity, access, register, plans
