"""The Redis adapters: the Redis client (one Redis or a cluster), pub/sub channels, task streams,
the schedule source and the heartbeats."""
