"""The main job: compose the stages into one run and write the run folder."""

from promoloop.pipeline.run import DataSource, RunResult, run

__all__ = ["DataSource", "RunResult", "run"]
