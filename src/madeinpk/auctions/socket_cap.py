"""Moved to ``madeinpk.http.socket_cap`` (web plumbing every socket shares); this re-export stays
for ``auctions/socket.py`` until that file is next edited."""

from madeinpk.http.socket_cap import SocketCap as SocketCap
from madeinpk.http.socket_cap import socket_cap as socket_cap
