"""Reference data every deployment needs, demo or not: the catalogue's categories (ids 1 to 12,
which the React client hard-codes), and Pakistan's provinces with their main cities (addresses
need them). Demo users, auctions and images stay in ``madeinpk seed``.

The rows are written out here, not imported, so this migration means the same thing whenever it
runs. Rows already present (by id or name: a database the demo seed filled first) are left
alone, so it and the seed may run in either order. There is no backwards step: products and
addresses refer to these rows.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

ID = "2026-11-30T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reference data: categories 1-12, provinces and cities"

CATEGORIES = (
    (1, "Textiles", "Handwoven fabrics, shawls, bedding and embroidered cloth from Pakistan."),
    (2, "Handicrafts", "Handmade decorative and everyday pieces from artisans across Pakistan."),
    (3, "Pottery", "Blue pottery, glazed ceramics and terracotta from Multan, Hala and beyond."),
    (4, "Jewelry", "Kundan, silver, gold-plated and gemstone jewellery, traditional and modern."),
    (5, "Home Decor", "Lamps, mirrors, cushions and ornaments that bring Pakistani craft home."),
    (6, "Carpets", "Hand-knotted carpets, rugs and namdas in wool and silk."),
    (7, "Leather Goods", "Bags, wallets, belts and accessories in hand-finished leather."),
    (8, "Woodwork", "Carved and inlaid furniture, boxes and ornaments from Chiniot and Swat."),
    (9, "Metalwork", "Brass, copper and silver ware hammered and engraved by hand."),
    (10, "Paintings & Art", "Original paintings, calligraphy and truck art by Pakistani artists."),
    (11, "Footwear", "Hand-stitched khussas, Peshawari chappals and other traditional footwear."),
    (12, "Accessories", "Scarves, caps, bags and small accessories with a handmade touch."),
)
PROVINCES = {
    "Punjab": ("Lahore", "Faisalabad", "Rawalpindi", "Multan", "Gujranwala", "Sialkot"),
    "Sindh": ("Karachi", "Hyderabad", "Sukkur", "Larkana", "Mirpur Khas"),
    "Khyber Pakhtunkhwa": ("Peshawar", "Mardan", "Abbottabad", "Mingora", "Dera Ismail Khan"),
    "Balochistan": ("Quetta", "Gwadar", "Turbat", "Khuzdar", "Sibi"),
    "Gilgit-Baltistan": ("Gilgit", "Skardu", "Chilas", "Karimabad"),
    "Azad Jammu and Kashmir": ("Muzaffarabad", "Mirpur", "Rawalakot", "Kotli"),
    "Islamabad Capital Territory": ("Islamabad", "Bhara Kahu", "Tarnol", "Sihala"),
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="madeinpk", description=DESCRIPTION)

    async def insert_reference_data() -> None:
        engine = engine_finder()
        assert engine is not None
        for category_id, name, description in CATEGORIES:
            await engine.run_querystring(
                QueryString(
                    "INSERT INTO category (id, name, description, parent) "
                    "VALUES ({}, {}, {}, NULL) ON CONFLICT DO NOTHING",
                    category_id,
                    name,
                    description,
                )
            )
        if isinstance(engine, PostgresEngine):
            # The serial sequence does not see explicit ids: move it past them, or the next
            # category made in the admin would be given id 1.
            await engine.run_ddl(
                "SELECT setval(pg_get_serial_sequence('category', 'id'), "
                "(SELECT MAX(id) FROM category))"
            )
        for province, cities in PROVINCES.items():
            await engine.run_querystring(
                QueryString(
                    "INSERT INTO province (name) VALUES ({}) ON CONFLICT DO NOTHING", province
                )
            )
            for city in cities:
                # (province, name) is unique (index city_province_name).
                await engine.run_querystring(
                    QueryString(
                        "INSERT INTO city (name, province) SELECT {}, id FROM province "
                        "WHERE name = {} ON CONFLICT DO NOTHING",
                        city,
                        province,
                    )
                )

    manager.add_raw(insert_reference_data)
    return manager
