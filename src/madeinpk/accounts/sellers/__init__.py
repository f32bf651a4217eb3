"""Seller profiles: the public seller page, the owner's edits and staff verification."""
