"""Web plumbing below every domain: request helpers, query parsing, pagination, request bodies,
the DRF-shaped error bodies, the caller (``Account``) and the guards, socket frames and caps.

Nothing in here imports a domain package; every domain may import from here.
"""
