"""The team's store in PostgreSQL (`KLING_DATABASE_URL`): its schema, kept by Alembic
migrations in `migrations/`, and the check that a database is at this code's schema
before a studio or a worker uses it (`python -m kling db upgrade` brings it there).

Team-only: SQLAlchemy, psycopg and Alembic come from `requirements-team.txt`, so nothing
here is imported by a one-person studio.
"""

from .engine import (
    UPGRADE_COMMAND, check_current, connect, current_revision, head_revision, safe_url,
    upgrade,
)
from .tables import (
    annotation_latest, annotations, documents, generations, jobs, metadata, pacing,
    store_versions, workers,
)

__all__ = [
    "UPGRADE_COMMAND", "annotation_latest", "annotations", "check_current", "connect",
    "current_revision", "documents", "generations", "head_revision", "jobs", "metadata", "pacing",
    "safe_url", "store_versions", "upgrade", "workers",
]
