"""okrflow: metric-driven product execution, from objectives to the work and outcomes that move them."""

__version__ = "0.1.0"
