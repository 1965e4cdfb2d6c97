import pytest
import sqlalchemy as sa


@pytest.mark.postgres
def test_postgres_fixture_serves_a_fresh_database(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from pg_tables where schemaname='public'")).scalar() == 0
    engine.dispose()
