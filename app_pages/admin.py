"""Admin (placeholder until its page lands)."""

from __future__ import annotations

import streamlit as st

st.title("Admin")
