"""Warning classes, so callers can filter promoloop's warnings by kind."""


class PromoloopWarning(UserWarning):
    """Base class of promoloop's warnings."""


class DataQualityWarning(PromoloopWarning):
    """Rows were repaired or left out by a cleaning rule."""


class ConvergenceWarning(PromoloopWarning):
    """A model fit did not converge and a documented fallback was used."""


class ColdStartWarning(PromoloopWarning):
    """A customer or item had no training signal and got a fallback result."""


class LocaleFallbackWarning(PromoloopWarning):
    """Messages for an unknown locale were written in the default locale."""


class TruncationWarning(PromoloopWarning):
    """A result hit its size cap and was cut to the top entries."""


class LeakageWarning(PromoloopWarning):
    """An evaluation setup lets information from the test period into training."""


class OverlapWarning(PromoloopWarning):
    """Treated and control customers of an observational comparison overlap poorly.

    Issued when few comparable controls exist for the treated customers, or
    when propensity weighting leaves covariates unbalanced, so the estimate
    leans on extrapolation.
    """


class SupportWarning(PromoloopWarning):
    """A target policy puts probability on actions the logging policy could not take.

    Importance-weighted estimates such as IPS count no reward for that
    probability mass, so they are biased for the rounds concerned.
    """
