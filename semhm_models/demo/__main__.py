from semhm_models.demo.app import main

raise SystemExit(main())
