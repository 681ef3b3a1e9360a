"""Run localstripe (a test-only Stripe-compatible server) on a listening socket it inherits
(bound to 127.0.0.1 by ``tests.support.services.LocalStripe``).

Usage: python -m tests.support.localstripe_loopback FD
"""

import socket
import sys

from aiohttp import web
from localstripe.server import app

if __name__ == "__main__":
    web.run_app(app, sock=socket.socket(fileno=int(sys.argv[1])), print=None)
