"""okr: periods, objectives, key results, check-ins, metric catalog and values

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:19:25.177646
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import okrflow.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_metrics_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("workspace_id", "key", name="uq_metrics_workspace_key"),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metrics_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["periods.id"], name=op.f("fk_periods_parent_id_periods"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_periods_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_periods")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_periods_workspace_name"),
    )
    with op.batch_alter_table("periods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_periods_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_periods_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "metric_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=False),
        sa.Column("at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column(
            "dimensions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("dimension_key", sa.String(length=400), nullable=False),
        sa.Column("metric_version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("import_run", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["metric_id"], ["metrics.id"], name=op.f("fk_metric_values_metric_id_metrics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_values")),
        sa.UniqueConstraint("metric_id", "at", "dimension_key", name="uq_metric_values_point"),
    )
    with op.batch_alter_table("metric_values", schema=None) as batch_op:
        batch_op.create_index("ix_metric_values_series", ["metric_id", "dimension_key", "at"], unique=False)

    op.create_table(
        "metric_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("indicator", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("aggregation", sa.String(length=16), nullable=False),
        sa.Column("numerator_key", sa.String(length=100), nullable=True),
        sa.Column("denominator_key", sa.String(length=100), nullable=True),
        sa.Column(
            "dimensions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("calculation", sa.Text(), nullable=False),
        sa.Column("freshness_warn_hours", sa.Float(), nullable=True),
        sa.Column("freshness_error_hours", sa.Float(), nullable=True),
        sa.Column(
            "thresholds", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["metric_id"], ["metrics.id"], name=op.f("fk_metric_versions_metric_id_metrics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"],
            ["people.id"],
            name=op.f("fk_metric_versions_owner_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_versions")),
        sa.UniqueConstraint("metric_id", "number", name="uq_metric_versions_metric_number"),
    )
    with op.batch_alter_table("metric_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metric_versions_metric_id"), ["metric_id"], unique=False)

    op.create_table(
        "objectives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("commitment", sa.String(length=16), nullable=False),
        sa.Column("aligned_to_kr_id", sa.Integer(), nullable=True),
        sa.Column("alignment_weight", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["people.id"], name=op.f("fk_objectives_owner_person_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["period_id"], ["periods.id"], name=op.f("fk_objectives_period_id_periods"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_objectives_team_id_teams"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_objectives_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objectives")),
    )
    with op.batch_alter_table("objectives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objectives_aligned_to_kr_id"), ["aligned_to_kr_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objectives_period_id"), ["period_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objectives_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objectives_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "key_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("objective_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("band_low", sa.Float(), nullable=True),
        sa.Column("band_high", sa.Float(), nullable=True),
        sa.Column(
            "milestones", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=True),
        sa.Column(
            "metric_dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["metric_id"], ["metrics.id"], name=op.f("fk_key_results_metric_id_metrics"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"], ["objectives.id"], name=op.f("fk_key_results_objective_id_objectives"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["people.id"], name=op.f("fk_key_results_owner_person_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_results")),
    )
    with op.batch_alter_table("key_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_results_metric_id"), ["metric_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_key_results_objective_id"), ["objective_id"], unique=False)

    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_result_id", sa.Integer(), nullable=False),
        sa.Column("at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", okrflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_checkins_author_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["key_result_id"],
            ["key_results.id"],
            name=op.f("fk_checkins_key_result_id_key_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
    )
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_index("ix_checkins_kr_at", ["key_result_id", "at"], unique=False)

    # Created after key_results: objectives and key results refer to each other (cascading alignment).
    with op.batch_alter_table("objectives", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_objectives_aligned_to_kr_id_key_results"),
            "key_results",
            ["aligned_to_kr_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("north_star_metric_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_workspaces_north_star_metric_id_metrics"),
            "metrics",
            ["north_star_metric_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("objectives", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_objectives_aligned_to_kr_id_key_results"), type_="foreignkey")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_workspaces_north_star_metric_id_metrics"), type_="foreignkey")
        batch_op.drop_column("north_star_metric_id")

    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_kr_at")

    op.drop_table("checkins")
    with op.batch_alter_table("key_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_results_objective_id"))
        batch_op.drop_index(batch_op.f("ix_key_results_metric_id"))

    op.drop_table("key_results")
    with op.batch_alter_table("objectives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objectives_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_objectives_team_id"))
        batch_op.drop_index(batch_op.f("ix_objectives_period_id"))
        batch_op.drop_index(batch_op.f("ix_objectives_aligned_to_kr_id"))

    op.drop_table("objectives")
    with op.batch_alter_table("metric_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_versions_metric_id"))

    op.drop_table("metric_versions")
    with op.batch_alter_table("metric_values", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_values_series")

    op.drop_table("metric_values")
    with op.batch_alter_table("periods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_periods_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_periods_parent_id"))

    op.drop_table("periods")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_workspace_id"))

    op.drop_table("metrics")
