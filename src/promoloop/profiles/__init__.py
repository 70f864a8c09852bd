"""Customer profiles: behaviour, value (RFM, CLV), interest, segments and anomalies."""

from promoloop.profiles.btyd import btyd_summary
from promoloop.profiles.build import Profiles, build_profiles

__all__ = ["Profiles", "btyd_summary", "build_profiles"]
