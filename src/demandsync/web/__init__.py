"""The PM's page (``demandsync web``): Starlette + Jinja2, every asset in the package."""
