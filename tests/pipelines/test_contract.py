from pipelines.contract import (
    TABLES,
    TABLES_BY_NAME,
    is_identifier_column,
    normalise_column_name,
    table_for_file,
)


def test_foreign_keys_point_to_earlier_tables():
    seen: set[str] = set()
    for table in TABLES:
        for target in table.foreign_keys.values():
            assert target in seen, f"{table.name} → {target} must load first"
        seen.add(table.name)


def test_table_for_file_uses_base_name_prefix():
    assert table_for_file("CLN-007/adverse_events.parquet").name == "adverse_events"
    assert table_for_file("sessions_2026-11-24.csv").name == "sessions"
    assert table_for_file("CLN-001/notes.txt") is None
    assert table_for_file("clinics/README.md") is None


def test_identifier_guard_never_matches_contract_columns():
    clinics = TABLES_BY_NAME["clinics"]
    assert not is_identifier_column("clinic_name", clinics)
    assert is_identifier_column(" Date of Birth ", clinics)
    assert is_identifier_column("E-Mail", TABLES_BY_NAME["patients"])
    assert normalise_column_name("  Patient Name ") == "patient_name"
