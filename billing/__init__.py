"""Billing Office: the ledger (domain, data layer, services) behind the app."""
