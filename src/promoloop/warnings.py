"""Warning classes, so callers can filter promoloop's warnings by kind."""


class PromoloopWarning(UserWarning):
    """Base class of promoloop's warnings."""


class DataQualityWarning(PromoloopWarning):
    """Rows were repaired or left out by a cleaning rule."""


class ConvergenceWarning(PromoloopWarning):
    """A model fit did not converge and a documented fallback was used."""


class ColdStartWarning(PromoloopWarning):
    """A customer or item had no training signal and got a fallback result."""
