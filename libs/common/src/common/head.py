"""HEAD wherever GET is served, as RFC 9110 §9.3.2 asks of every general-purpose server.

Starlette's own routes add HEAD to GET, FastAPI's do not, so `HEAD /auth/me` was a 405 while the
gateway's decision, like Starlette, already judges HEAD as GET. The GET route answers; its body is
not sent, and its headers (`Content-Length` included) are the ones GET would send.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def routed_as(method: str) -> str:
    """The method a request is routed with: HEAD goes where GET does."""
    return "GET" if method == "HEAD" else method


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": routed_as("HEAD")}, receive, send_without_body)
