"""Sessions: access tokens, rotating refresh tokens and revocation."""
