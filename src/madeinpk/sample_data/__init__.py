"""Demo data for a fresh installation: the catalogue ids the client hard-codes, Pakistan's places,
demo accounts, the six live auctions the protocol documents, and past sales whose feedback
gives each seller a real rating.

The live auctions show every auction feature on a fresh ``just serve``: a minimum increment, a
proxy bid (with its automatic answer), a soft close and a reserve price. Their bids are decided
by the real rule core (``auctions.bidding.rules``), so leader, standing maximum, event numbers
and the stored events are what the bid path would have left.

Every row is found or created by a natural key, so seeding twice leaves one copy of everything;
only explicit ids the client relies on (categories 1 to 12, products and auctions 1 to 6) are fixed.
"""

from madeinpk.sample_data.data import CATEGORIES, DEMO_PASSWORD, PROVINCES
from madeinpk.sample_data.run import SeedError
from madeinpk.sample_data.seeding import SeedReport, database_is_empty, seed

__all__ = [
    "CATEGORIES",
    "DEMO_PASSWORD",
    "PROVINCES",
    "SeedError",
    "SeedReport",
    "database_is_empty",
    "seed",
]
