"""`python -m wengert`: the `wengert` command."""

from .cli import main

raise SystemExit(main())
