"""Who is calling: bearer tokens, kept only as hashes."""
