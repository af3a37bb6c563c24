"""The auth service: RSA-protected login, rotating refresh tokens, sessions, users."""
