"""The stages, one module each: a function from the config (and a Spark session) to outputs.

Each stage reads its inputs from the locations in :mod:`causal_targeting.layout`, validates
everything before it writes anything, writes atomically, and returns a small result the views
show. Stages never import each other; :mod:`causal_targeting.pipeline` chains them.
"""
