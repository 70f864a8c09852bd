"""promoloop: personalized, budgeted e-commerce promotions that measure themselves."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
