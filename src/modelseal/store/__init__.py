"""The registry's database: SQLAlchemy 2 models, Alembic migrations and the repositories the service uses.

SQLite in the user data folder by default, PostgreSQL (psycopg 3) for teams; the same migrations run on both.
"""
