"""The search page in a real headless browser (Debian's chromium through Selenium), served by
uvicorn on the index the chain published: type a query, apply a filter, go to page 2, open a
product and one of its similar products. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from catalog_search.search.api import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(chain_service):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(lambda: chain_service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = os.environ.get("CS_CHROMIUM", "/usr/bin/chromium"), os.environ.get("CS_CHROMEDRIVER", "/usr/bin/chromedriver")
    if not (Path(chromium).exists() and Path(driver_path).exists()):
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no {chromium} / {driver_path}: run scripts/browser.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)  # --no-sandbox: chromium refuses to run as root without it
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(10)
    yield driver
    driver.quit()


def test_search_filter_paginate_and_open_similar_products(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(tmp_path / f"{name}.png"))

    browser.get(server + "/")
    browser.find_element(By.ID, "q").send_keys("navy blue shirt")
    browser.find_element(By.ID, "go").click()
    assert "results for" in browser.find_element(By.ID, "summary").text
    shot("1-results")

    browser.find_element(By.CSS_SELECTOR, 'a[data-facet="gender"]').click()  # the first gender facet
    chosen = browser.find_element(By.CSS_SELECTOR, "a[data-remove='gender']").text
    gender = chosen.split(": ", 1)[1].rstrip(" ×")
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .card")
    assert cards and all(gender in card.text for card in cards)
    shot("2-filtered")

    first_page = {card.get_attribute("data-product") for card in cards}
    browser.find_element(By.ID, "next").click()
    assert "page 2 of" in browser.find_element(By.ID, "summary").text
    second_page = {card.get_attribute("data-product") for card in browser.find_elements(By.CSS_SELECTOR, "#results .card")}
    assert second_page and not first_page & second_page
    assert "gender=" in browser.current_url
    shot("3-page-2")

    browser.find_element(By.CSS_SELECTOR, "#results .card a").click()
    title = browser.find_element(By.ID, "title").text
    similar = browser.find_elements(By.CSS_SELECTOR, "#similar .card a")
    assert title and len(similar) >= 5
    shot("4-product")
    similar[0].click()
    assert browser.find_element(By.ID, "title").text and browser.find_elements(By.CSS_SELECTOR, "#similar .card")
    shot("5-similar-product")
    assert len(list(tmp_path.glob("*.png"))) == 5


def test_the_category_facets_show_each_value_under_its_parent(server, browser, tmp_path):
    """A search of "trainers" spans several first-level categories: every deeper value is drawn in
    its parent's list (it once listed Bottomwear under Accessories)."""
    from selenium.webdriver.common.by import By

    browser.get(server + "/?q=trainers")
    links = browser.find_elements(By.CSS_SELECTOR, '#category-facets a[data-facet="category"]')
    assert len({link.get_attribute("data-value").split(" > ")[0] for link in links}) > 1
    nested = [link for link in links if " > " in link.get_attribute("data-value")]
    assert nested
    for link in nested:
        value = link.get_attribute("data-value")
        parent_link = link.find_element(By.XPATH, "./ancestor::li[2]/a")  # the list item holding this one's list
        assert parent_link.get_attribute("data-value") == value.rsplit(" > ", 1)[0], value
    assert browser.save_screenshot(str(tmp_path / "category-tree.png"))
