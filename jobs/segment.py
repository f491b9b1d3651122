"""spark-submit / Databricks entry point: `segment` stage (arguments as for the CLI)."""

import sys

from causal_targeting.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["segment"]
    main()
