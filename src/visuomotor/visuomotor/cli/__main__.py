from visuomotor.cli import main

raise SystemExit(main())
