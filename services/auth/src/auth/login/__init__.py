"""Login: the public key with its nonce, RSA-protected password check, throttling."""
