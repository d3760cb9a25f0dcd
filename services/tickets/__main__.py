import sys

from services.tickets.app import main

sys.exit(main())
