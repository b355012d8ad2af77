"""The Streamlit edge: configuration, the cached engine and loaders, login, formatting.

Besides `app.py` and `app_pages/`, this is the only package that imports
Streamlit. It reads secrets and the environment, caches what is expensive,
and turns the ledger's integer minor units into text a person reads; the
rules and the SQL stay in `billing/`.
"""
