"""Fast tests of the web plumbing (madeinpk.http)."""
