"""Just-in-time features: feature tables, their online stores, and lookups at request time."""
