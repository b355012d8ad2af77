"""`make bench`: the app's heavy paths timed at 10k–1M invoices against pandas, SQL and numpy.

Run with `.venv/bin/python -m bench --sizes 10000,100000`; it writes BENCHMARKS.md.
Not part of `make test`: it seeds large ledgers and takes minutes.
"""
