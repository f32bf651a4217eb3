"""The Piccolo admin panel and its staff login."""
