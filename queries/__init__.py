"""Receivables analytics as pure Polars: LazyFrame in, LazyFrame out.

Nothing here imports Streamlit, SQLAlchemy or the database modules
(`tests/test_architecture.py` enforces it), so every KPI of SPEC §3 can be
tested on tiny inline frames and reused by the CLI, the pages and the
benchmarks alike. Loading frames from the database is `billing.repository`'s
job. The analytics issue fills this package.
"""
