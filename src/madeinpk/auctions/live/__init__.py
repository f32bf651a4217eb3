"""Live auctions: the fan-out hub and its rooms, the event log replay, recovery after a broken
stream, the snapshot a watcher starts from, the socket and its AsyncAPI document."""
