"""The HTTP layer around the routes: server protocol, middleware, Prometheus metrics."""
