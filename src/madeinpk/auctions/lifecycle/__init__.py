"""An auction's end: ending due auctions exactly once, in batches, and settling them."""
