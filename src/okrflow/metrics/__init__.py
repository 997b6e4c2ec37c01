"""Pure, vectorized metric computations (flow, DORA, value stream, forecasts, statistics). Imports only ``domain``."""
