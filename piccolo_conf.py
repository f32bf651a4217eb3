"""Piccolo's configuration, for the ``piccolo`` CLI and migrations: the same settings as the app."""

from piccolo.conf.apps import AppRegistry

from madeinpk.db.engines import build_engine
from madeinpk.settings import Settings

DB = build_engine(Settings.from_env())

APP_REGISTRY = AppRegistry(
    apps=[
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.session_auth.piccolo_app",  # sessions of the admin panel
        "madeinpk.db.piccolo_app",
    ]
)
