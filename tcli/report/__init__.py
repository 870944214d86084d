"""``tc report``: a training report with pictures (see :mod:`tcli.report.core`)."""
