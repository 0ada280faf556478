import sys

from drum_pipeline.cli.commands import main

sys.exit(main())
