"""Pydantic schemas of the client-facing API, one module per noun."""
