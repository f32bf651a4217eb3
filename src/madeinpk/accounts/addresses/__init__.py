"""Addresses: provinces and cities (reference data) and the buyer's shipping addresses."""
