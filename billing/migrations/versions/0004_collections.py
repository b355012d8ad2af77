"""collections: dunning letters, disputes, customer owners

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:40:00

- `customers.owner`: the username who chases the customer (worklist filter).
- `collection_activities.kind` may be `letter` (a dunning letter sent), at
  `dunning_level`; `dunning_letter_items` names the invoices each letter
  covered, unique per (invoice, level) so no letter goes twice.
- `disputes`: at most one open dispute per invoice (a partial unique index,
  which SQLite and PostgreSQL both support).

`collection_activities` is rebuilt on SQLite (batch mode) to widen the CHECK
on `kind`; it carries none of the ledger guards of 0003, so none need
creating again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("note", "call", "email", "promise", "dispute")
KINDS_AFTER = (*KINDS_BEFORE, "letter")


def _kind_check(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _set_kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("collection_activities", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_collection_activities_activity_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_collection_activities_activity_kind"), _kind_check(kinds)
        )


def upgrade() -> None:
    op.add_column("customers", sa.Column("owner", sa.String(length=64), nullable=True))
    with op.batch_alter_table("collection_activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dunning_level", sa.Integer(), nullable=True))
    _set_kinds(KINDS_AFTER)

    op.create_table(
        "dunning_letter_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("dunning_level", sa.Integer(), nullable=False),
        sa.Column("open_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "dunning_level >= 1", name=op.f("ck_dunning_letter_items_level_positive")
        ),
        sa.CheckConstraint("open_minor > 0", name=op.f("ck_dunning_letter_items_open_positive")),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["collection_activities.id"],
            name=op.f("fk_dunning_letter_items_activity_id_collection_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_dunning_letter_items_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_letter_items")),
        sa.UniqueConstraint(
            "invoice_id",
            "dunning_level",
            name=op.f("uq_dunning_letter_items_invoice_id_dunning_level"),
        ),
    )
    with op.batch_alter_table("dunning_letter_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dunning_letter_items_activity_id"), ["activity_id"], unique=False
        )

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("opened_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("closed_date", sa.Date(), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum(
                "credit_note",
                "closed",
                name="dispute_resolution",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("adjustment_id", sa.Integer(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "closed_date IS NULL OR closed_date >= opened_date",
            name=op.f("ck_disputes_closed_after_opened"),
        ),
        sa.CheckConstraint(
            "(closed_date IS NULL) = (resolution IS NULL)",
            name=op.f("ck_disputes_closed_with_resolution"),
        ),
        sa.ForeignKeyConstraint(
            ["adjustment_id"],
            ["adjustments.id"],
            name=op.f("fk_disputes_adjustment_id_adjustments"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_disputes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_disputes_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(
            "uq_disputes_open_invoice",
            ["invoice_id"],
            unique=True,
            sqlite_where=sa.text("closed_date IS NULL"),
            postgresql_where=sa.text("closed_date IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("disputes")
    op.drop_table("dunning_letter_items")
    op.execute("DELETE FROM collection_activities WHERE kind = 'letter'")
    _set_kinds(KINDS_BEFORE)
    with op.batch_alter_table("collection_activities", schema=None) as batch_op:
        batch_op.drop_column("dunning_level")
    # Plain ALTER (SQLite ≥ 3.35 and PostgreSQL): a batch rebuild of `customers`
    # would drop a table every ledger row refers to.
    op.execute("ALTER TABLE customers DROP COLUMN owner")
