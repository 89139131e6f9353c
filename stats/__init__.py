"""Statistics: reporting projection, metric definitions, live figures, OpenMetrics, live view."""
