import sys

from services.notify.app import main

sys.exit(main())
