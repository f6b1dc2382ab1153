"""Mutation testing: deliberate bugs (catalogue.py) applied to a temporary copy, the suite must catch each."""
