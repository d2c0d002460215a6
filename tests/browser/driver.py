"""Debian's system Chromium driven headless by Selenium, offline, with switchable viewports and full-page
screenshots: the `Browser` every page test in tests/browser gets from the `browser` fixture."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adsvc.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# CI sets it (.ci/run): a missing Chromium is then a failure, never a silent skip
REQUIRE_ENV = "ADSVC_REQUIRE_BROWSER"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"

PAGE_LOAD_TIMEOUT_SECONDS = 20
SCRIPT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Viewport:
    label: str
    width: int
    height: int
    mobile: bool


DESKTOP = Viewport("desktop", 1280, 800, mobile=False)
# an iPhone 12-15 in CSS pixels: the narrowest layout the pages must work at
PHONE = Viewport("390px", 390, 844, mobile=True)


def missing_browser() -> str | None:
    """Why no browser test can run here, or None when Chromium, its driver and Selenium are all present."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def skip_or_fail_without_browser() -> None:
    """Skip the test when there is no browser here, or fail it when browser tests are required (CI)."""
    import pytest

    reason = missing_browser()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"browser tests are required here ({REQUIRE_ENV} is set) but {reason}")
    pytest.skip(f"no browser: {reason}; set {REQUIRE_ENV}=1 to make this a failure")


def start_chromium() -> Any:
    """A new headless Chromium session through the system chromedriver; Selenium Manager never runs (it would try
    the network to find a driver)."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # Chromium's sandbox refuses to run as root, as on CI
        "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",  # no update checks, safe browsing or field trials: nothing leaves
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--lang=en-US",
        f"--window-size={DESKTOP.width},{DESKTOP.height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    driver.set_script_timeout(SCRIPT_TIMEOUT_SECONDS)
    return driver


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Browser:
    """One Chromium session pointed at the live server. `driver` is Selenium's WebDriver for anything not wrapped
    here; every call blocks, so from an async test call them through `asyncio.to_thread`."""

    def __init__(self, driver: Any, base_url: str, screenshots: Path = SCREENSHOTS) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.screenshots = screenshots
        self.viewport = DESKTOP

    # -- navigation ----------------------------------------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return self.base_url + path if path.startswith("/") else path

    def open(self, path: str = "/") -> None:
        """Load a page of the live server (or an absolute URL) and wait until it has loaded."""
        self.driver.get(self.url(path))

    @property
    def path(self) -> str:
        """The current URL's path and query, without the server's base."""
        current: str = self.driver.current_url
        return current[len(self.base_url) :] if current.startswith(self.base_url) else current

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str = "body") -> str:
        return str(self.find(css).text)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def fill(self, values: dict[str, str], *, form: str = "form") -> None:
        """Type into the named inputs of a form (clearing them first)."""
        for name, value in values.items():
            field = self.find(f"{form} [name={name!r}]")
            field.clear()
            field.send_keys(value)

    def submit(self, form: str = "form") -> None:
        """Submit a form as a person does, with its submit button, and wait for the next page."""
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.find("html")
        self.find(f"{form} [type=submit]").click()
        WebDriverWait(self.driver, PAGE_LOAD_TIMEOUT_SECONDS).until(lambda _: _stale(old))

    def sign_in(self, email: str, password: str) -> None:
        """Sign in through the pages' own form (/login, fields `email` and `password`)."""
        self.open("/login")
        self.fill({"email": email, "password": password})
        self.submit()

    def send_bearer_token(self, token: str | None) -> None:
        """Send `Authorization: Bearer <token>` with every request the page makes (None: stop), as an API
        client would: how a test sees what /status shows an administrator before the pages have sessions."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    def press_tab(self, times: int = 1, *, shift: bool = False) -> Any:
        """Press Tab (or Shift+Tab) as a keyboard user does; returns the element that has the focus then."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        for _ in range(times):
            chain = ActionChains(self.driver)
            if shift:
                chain = chain.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT)
            else:
                chain = chain.send_keys(Keys.TAB)
            chain.perform()
        return self.driver.switch_to.active_element

    # -- viewport, layout, screenshots ---------------------------------------------------------------------------

    def use_viewport(self, viewport: Viewport) -> None:
        """Emulate a screen of that size (a phone emulates touch and honours the page's viewport meta)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": viewport.width, "height": viewport.height, "deviceScaleFactor": 1, "mobile": viewport.mobile},
        )
        self.viewport = viewport

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the screen (0: nothing makes the whole page scroll sideways;
        a table that scrolls inside its own box does not count). Measured against the document's client width:
        an emulated phone widens `window.innerWidth` to fit content that overflows, hiding the very overflow."""
        return int(self.js(
            "const root = document.documentElement; return Math.max(0, root.scrollWidth - root.clientWidth)"
        ))  # fmt: skip

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """The whole page (or, with full_page=False, what the window shows now) as
        artifacts/screenshots/<name>-<viewport>.png; returns the path."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        if full_page:
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": max(size["width"], 1), "height": max(size["height"], 1), "scale": 1}
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
            )
        else:
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        path = self.screenshots / f"{_SAFE_NAME.sub('-', name)}-{self.viewport.label}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    # -- between tests -------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A clean slate for the next test: no cookies or storage for any site, no extra headers, a blank page,
        the desktop size."""
        self.driver.get("about:blank")
        self.driver.get_log("browser")  # the console of earlier tests' pages (a 404 page logs its status) is theirs
        self.send_bearer_token(None)
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        self.driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": self.base_url, "storageTypes": "all"})
        self.use_viewport(DESKTOP)

    def alive(self) -> bool:
        try:
            self.driver.execute_script("return 1")
        except Exception:  # a crashed or hung Chromium: the fixture starts a new one
            return False
        return True


def _stale(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        # asked in the middle of the navigation, Chromium's inspector may answer this instead of "stale"
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False
