import sys

from services.metrics.app import main

sys.exit(main())
