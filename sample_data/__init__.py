"""Demo data: small CSV files for the import examples, and the deterministic generator."""
