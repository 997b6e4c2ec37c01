"""Server-rendered web UI: Jinja2 templates, HTMX, vendored static assets (no CDN)."""
