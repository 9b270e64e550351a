"""The project lead's console: pages to create and set up a project, manage its members,
upload items and browse them, the dashboard (its selectors, its SVG charts and its API)."""
