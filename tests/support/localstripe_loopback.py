"""Run localstripe (a test-only Stripe-compatible server) on 127.0.0.1 only.

Usage: python -m tests.support.localstripe_loopback PORT
"""

import sys

from aiohttp import web
from localstripe.server import app

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
