"""What a PR changed in its database, compared from the two schemas' structures."""

from __future__ import annotations

from pullrekun.core.schemadiff import Structure, changes, column_text

SOURCE = Structure(
    {
        "tables": {"users": "", "legacy": ""},
        "columns": {
            "users.id": column_text("int(11)", False, None),
            "users.name": column_text("varchar(50)", True, "NULL"),
            "legacy.x": column_text("int(11)", True, None),
        },
        "indexes": {"users.PRIMARY": "UNIQUE (id)"},
    }
)


def test_a_migration_that_adds_a_table_a_column_and_an_index_shows_exactly_those() -> None:
    target = Structure(
        {
            "tables": {**SOURCE.of("tables"), "invoices": ""},
            "columns": {
                **SOURCE.of("columns"),
                "users.plan": column_text("varchar(20)", False, "'free'"),
                "invoices.id": column_text("int(11)", False, None),
            },
            "indexes": {
                **SOURCE.of("indexes"),
                "users.idx_plan": "(plan)",
                "invoices.PRIMARY": "UNIQUE (id)",
            },
        }
    )
    assert changes(SOURCE, target) == (
        "+ table `invoices`",
        "+ column `users.plan` varchar(20) NOT NULL DEFAULT 'free'",
        "+ index `users.idx_plan` (plan)",
    )


def test_no_migration_no_change_and_changes_dropped_and_altered() -> None:
    assert changes(SOURCE, SOURCE) == ()
    altered = Structure(
        {
            "tables": {"users": ""},
            "columns": {"users.id": column_text("int(11)", False, None), "users.name": "varchar(100)"},
            "indexes": {"users.PRIMARY": "UNIQUE (id)"},
        }
    )
    assert changes(SOURCE, altered) == (
        "- table `legacy`",
        "~ column `users.name` varchar(50) DEFAULT NULL -> varchar(100)",
    )


def test_a_schema_rewrite_is_capped() -> None:
    many = Structure({"tables": {f"t{i:03}": "" for i in range(100)}})
    told = changes(Structure(), many, limit=5)
    assert told[-1] == "and 95 more"
    assert len(told) == 6
