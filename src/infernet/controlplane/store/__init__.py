"""Persistence: SQLAlchemy Core tables and one small repository per noun."""
