"""Bidding: the pure rules, the desk that decides and writes bids, the per-bidder rate limit."""
