from spatial.cli.main import main


def test_db_schema_prints_every_table_and_gist_index(db_url, capsys):
    assert main(["db", "schema"]) == 0
    out = capsys.readouterr().out
    for table in ("admin_unit", "ticket", "ticket_event", "worker", "alert", "api_token"):
        assert f"### `{table}`" in out
    assert "ix_ticket_geom`: gist (geom)" in out
