"""Dagster definitions, one folder per domain."""

import warnings

import dagster as dg

# The code server and every run worker import these modules: Dagster's notices that
# an API chosen on purpose here (BackfillPolicy, sensor owners) is beta were printed
# nine times per process, burying each run's own lines. The CLI does the same.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
