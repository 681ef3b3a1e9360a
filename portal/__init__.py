"""The customer portal blueprint (SPEC §10); its pages arrive with the portal issue."""

from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")
