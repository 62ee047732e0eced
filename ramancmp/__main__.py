from ramancmp.cli import main

raise SystemExit(main())
