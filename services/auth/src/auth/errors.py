"""Domain errors of the auth service (mapped to problem+json by `common.errors`)."""

from common.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)


class InvalidCredentialsError(UnauthorizedError):
    """One answer for unknown user, wrong password, bad ciphertext and used nonce."""

    code = "invalid_credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The username or password is incorrect.")


class LoginThrottledError(TooManyRequestsError):
    code = "login_throttled"
    title = "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, f"Too many failed logins; retry in {retry_after} s.")


class PublicKeyRateLimitedError(TooManyRequestsError):
    code = "public_key_rate_limited"
    title = "Too many login key requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after, f"Too many login key requests from this address; retry in {retry_after} s."
        )


class InvalidRefreshTokenError(UnauthorizedError):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"

    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or revoked.")


class RefreshTokenReusedError(UnauthorizedError):
    code = "refresh_token_reused"
    title = "Refresh token reused"

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; the session has been revoked.")


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    title = "User not found"


class SessionNotFoundError(NotFoundError):
    code = "session_not_found"
    title = "Session not found"


class UsernameTakenError(ConflictError):
    code = "username_taken"
    title = "Username taken"


class EmailTakenError(ConflictError):
    code = "email_taken"
    title = "Email taken"


class SelfLockoutError(ConflictError):
    """An administrator may not disable or delete their own account (no one could undo it)."""

    code = "self_lockout"
    title = "Cannot disable or delete yourself"


class AdminRequiredError(ForbiddenError):
    code = "admin_required"
    title = "Administrators only"
