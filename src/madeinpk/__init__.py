"""MadeInPK Live: the real-time auction backend of the MadeInPK marketplace."""
