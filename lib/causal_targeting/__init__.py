"""causal-targeting: decide which offer each customer gets, from causal evidence, on Spark."""

__version__ = "0.1.0"
