import sys

from services.sla.app import main

sys.exit(main())
