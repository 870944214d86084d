"""``tc form`` in a real headless Chromium, for each of the four templates (rendered by ``tc new``).

The page must show every property of config.jsonschema with its title, current value (the
template's train_config.json = the defaults) and bounds; an enum is a <select>; an out-of-range
value shows rjsf's error and Save is refused (the file is untouched); a valid edit saved through
the page gives exactly the expected train_config.json (same key order and format).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcli.contract import TEMPLATE_NAMES
from tcli.form.server import FormServer, make_server
from tests.conftest import pristine_project
from tests.waits import SAFETY_NET

pytestmark = [pytest.mark.browser]
TEMPLATES = list(TEMPLATE_NAMES)
#: the safety net of each wait for the page (an event: an element, a text); a hang only
WAIT = SAFETY_NET


@pytest.fixture(scope="module")
def rendered() -> dict[str, Path]:
    """The session's one render of each template (tests/conftest.py)."""
    return {t: pristine_project(t) for t in TEMPLATES}


@pytest.fixture()
def served(rendered: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest
           ) -> Iterator[tuple[FormServer, Path]]:
    project = tmp_path / "project"
    shutil.copytree(rendered[request.param], project, symlinks=True)
    server = make_server(project).start()
    try:
        yield server, project
    finally:
        server.close()


def _wait(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _wait_text(driver: Any, css: str, text: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _type(el: Any, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(value)


def _shot(driver: Any, path: Path) -> None:
    """A screenshot of the whole page (the window grown to the page's height)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1000, min(max(height + 140, 600), 6000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    driver.set_window_size(1000, 1400)


def _num(v: Any) -> str:
    return str(v) if not isinstance(v, float) or not v.is_integer() else str(int(v))


@pytest.mark.parametrize("served", TEMPLATES, indirect=True)
def test_form_in_chromium(browser: Any, served: tuple[FormServer, Path], artifacts: Path,
                          request: pytest.FixtureRequest) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, project = served
    template = request.node.callspec.id
    target = server.httpd.target
    schema = target.schema
    original = target.config_path.read_text(encoding="utf-8")
    config = json.loads(original)

    browser.get(server.url)
    _wait(browser, "form.rjsf")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert target.file in page

    # every property: its title, its current value, its bounds; enums are a choice
    props: dict[str, Any] = schema["properties"]
    for key, spec in props.items():
        el = browser.find_element(By.ID, f"root_{key}")
        group = el.find_element(By.XPATH, "./ancestor::div[contains(@class,'form-group')][1]")
        assert spec["title"] in group.text, f"{key}: title {spec['title']!r} not shown"
        value = config.get(key, spec.get("default"))
        if "enum" in spec:
            assert el.tag_name == "select", f"{key}: enum is not a <select>"
            choice = Select(el)
            assert [o.text for o in choice.options] == [str(v) for v in spec["enum"]]
            assert choice.first_selected_option.text == str(value)
        elif spec["type"] == "boolean":
            assert el.get_attribute("type") == "checkbox"
            assert el.is_selected() == bool(value)
        else:
            assert el.get_attribute("value") == _num(value), f"{key}: shows {el.get_attribute('value')}"
        help_text = browser.find_element(By.ID, f"root_{key}__help").text if "default" in spec or \
            any(b in spec for b in ("minimum", "maximum", "exclusiveMinimum")) else ""
        if "default" in spec:
            assert f"default {json.dumps(spec['default'])}".replace(".0", "") in help_text.replace(".0", "")
        for bound, sign in (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", ">")):
            if bound in spec:
                assert f"{sign} {_num(spec[bound])}" in help_text, f"{key}: {bound} not shown"
                if bound != "exclusiveMinimum":
                    attr = el.get_attribute(bound[:3])
                    assert attr is not None and float(attr) == float(spec[bound])

    # an out-of-range value: rjsf shows the error live, Save is refused, the file is untouched
    key = next(k for k, s in props.items() if s.get("type") == "integer" and "maximum" in s)
    field = browser.find_element(By.ID, f"root_{key}")
    _type(field, str(props[key]["maximum"] + 1))
    error = _wait_text(browser, f"#root_{key}__error", f"must be <= {props[key]['maximum']}")
    assert error
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Not saved" in _wait_text(browser, "#status", "Not saved")
    assert target.config_path.read_text(encoding="utf-8") == original
    _shot(browser, artifacts / f"form-{template}-error.png")

    # a valid edit through the page: exactly the expected file
    new_value = props[key]["minimum"]
    _type(field, str(new_value))
    enum_key = next(k for k, s in props.items() if "enum" in s)
    enum_value = props[enum_key]["enum"][1]
    Select(browser.find_element(By.ID, f"root_{enum_key}")).select_by_visible_text(str(enum_value))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Saved" in _wait_text(browser, "#status", "Saved")
    expected = dict(config)
    expected[key] = new_value
    expected[enum_key] = enum_value
    assert target.config_path.read_text(encoding="utf-8") == json.dumps(expected, indent=2) + "\n"
    _shot(browser, artifacts / f"form-{template}.png")
    assert (artifacts / f"form-{template}.png").stat().st_size > 10_000
    assert not list(project.rglob(".train_config.json.*.tmp")), "temporary file left behind"
