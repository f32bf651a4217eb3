"""The ASGI pieces around the app: the lean WebSocket protocol, closing a socket once, 503s for
outages."""
