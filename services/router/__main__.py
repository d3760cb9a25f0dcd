import sys

from services.router.app import main

sys.exit(main())
