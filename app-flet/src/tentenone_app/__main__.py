import sys

from tentenone_app.main import main

sys.exit(main())
