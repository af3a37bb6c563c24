"""The API docs in a real browser: Debian's Chromium, headless, driven by Playwright.

The pages must render and work with nothing but the mesh: every request the browser makes is
recorded and must go to the loopback. Playwright uses the system browser (`/usr/bin/chromium`,
installed by `make test`); it downloads none of its own.
"""

import ipaddress
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, expect

from mesh.supervisor import Mesh
from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e

# One GET per service that needs the token, answered 200 for the admin.
AUTHENTICATED_GETS = {
    "auth": "/me",
    "rbac": "/me/permissions",
    "storage": "/files",
    "scheduler": "/tasks",
}
WAIT_MS = 20_000


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    opened = await context.new_page()
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    opened.on("request", record)
    yield opened
    await context.close()
    assert requested, "the browser made no request at all"
    outside = [url for url in requested if not _stays_on_this_machine(url)]
    assert not outside, f"the page loaded from outside the mesh: {outside}"


def _stays_on_this_machine(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _authorize_with_password(page: Page, username: str, password: str) -> None:
    await page.locator("button.authorize").first.click()
    form = page.locator(".auth-container", has=page.get_by_text("OAuth2Password"))
    await form.locator("#oauth_username").fill(username)
    await form.locator("#oauth_password").fill(password)
    await form.locator("button.authorize").click()
    await expect(form.locator("button", has_text="Logout")).to_be_visible(timeout=WAIT_MS)
    await page.locator("button.btn-done").first.click()


async def _execute(page: Page, path: str) -> str:
    operation = page.locator(f".opblock-get:has(.opblock-summary-path[data-path='{path}'])")
    await operation.locator(".opblock-summary-control").click()
    await operation.locator(".try-out__btn").click()
    await operation.locator(".execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    await expect(status).not_to_be_empty(timeout=WAIT_MS)
    return (await status.inner_text()).strip()


@pytest.fixture
def password_login_offered(mesh: Gateway) -> None:
    """Skips before any page opens (the page's teardown asserts that it loaded something)."""
    if not (isinstance(mesh, Mesh) and mesh.environment.env["ENVIRONMENT"] == "local"):
        pytest.skip("the docs offer the password login only with ENVIRONMENT=local")


@pytest.mark.usefixtures("password_login_offered")
async def test_the_portal_renders_every_service_and_its_password_login_calls_the_api(
    mesh: Gateway, page: Page
) -> None:
    await page.goto(f"{mesh.url}/docs")
    title = page.locator(".swagger-ui .info .title")
    for service, path in AUTHENTICATED_GETS.items():
        await page.select_option("#select", label=service)
        await expect(title).to_contain_text(f"{service} service", timeout=WAIT_MS)
        if service == "auth":
            # Authorized once; Swagger UI keeps it for the other services' documents.
            await _authorize_with_password(page, mesh.admin_username, mesh.admin_password)
        assert await _execute(page, path) == "200", f"GET /{service}{path}"


@pytest.mark.parametrize("service", list(AUTHENTICATED_GETS))
async def test_each_services_swagger_ui_and_redoc_render_offline(
    mesh: Gateway, page: Page, service: str
) -> None:
    await page.goto(f"{mesh.url}/{service}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        f"{service} service", timeout=WAIT_MS
    )
    await expect(page.locator(".opblock").first).to_be_visible(timeout=WAIT_MS)
    await page.goto(f"{mesh.url}/{service}/redoc")
    await expect(page.locator("h1").first).to_contain_text(f"{service} service", timeout=WAIT_MS)
    await expect(page.get_by_text("/health").first).to_be_attached(timeout=WAIT_MS)
