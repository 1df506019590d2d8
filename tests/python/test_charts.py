"""The viewer's interactive charts in headless Chromium (Selenium, Debian's chromedriver):
hovering a point shows its value in the KPI's unit, as the table beside it does; clicking an
anomaly marker opens that step's root causes; the range buttons change what the chart shows;
and at 420 and 1920 pixels no chart is wider than the page."""

import pytest
from conftest import demo_viewer
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Every tab with a chart, and one RCA page (it draws the segment's trend).
PAGES = ["", "anomalies?kpi=conversion_rate", "rca", "ml-rca", "change-points", "forecast", "trends",
         "compare", "what-if", "models", "replay", "actions"]


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    with demo_viewer(tmp_path_factory.mktemp("charts"), 365) as (url, _):
        yield url


def plots(driver, at_least=1):
    """Waits until the page's script has drawn its charts; returns how many."""
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return (window.kpiscopePlots || []).length") >= at_least)
    return driver.execute_script("return window.kpiscopePlots.length")


def marker(driver):
    """The first anomaly marker with a link in the first chart: its step, link, and offset
    from the centre of the chart's plot area (where Selenium moves the pointer from)."""
    return driver.execute_script("""
        const p = window.kpiscopePlots[0], u = p.uplot;
        for (const [k, s] of p.spec.series.entries()) {
          if (s.style !== 'points') continue;
          const i = s.values.findIndex((v, j) => v != null && s.links[j]);
          if (i < 0) continue;
          const r = u.over.getBoundingClientRect();
          return {step: i, time: p.spec.times[i], link: s.links[i], series: k + 1,
                  dx: u.valToPos(i, 'x') - r.width / 2, dy: u.valToPos(s.values[i], 'y') - r.height / 2};
        }
        return null;""")


def legend(driver):
    """The first chart's legend as {series name: value shown}."""
    rows = driver.find_elements(By.CSS_SELECTOR, "figure.plot .u-legend .u-series")
    return {r.find_element(By.CSS_SELECTOR, ".u-label").text: r.find_element(By.CSS_SELECTOR, ".u-value").text
            for r in rows}


def test_hovering_a_marker_shows_its_value_and_clicking_it_opens_its_root_causes(viewer, browser):
    browser.set_window_size(1400, 1000)
    browser.get(f"{viewer}anomalies?kpi=conversion_rate")
    plots(browser)
    m = marker(browser)
    assert m, "the demo's conversion rate has flagged steps"
    over = browser.find_element(By.CSS_SELECTOR, "figure.plot .u-over")
    ActionChains(browser).move_to_element_with_offset(over, round(m["dx"]), round(m["dy"])).perform()
    shown = legend(browser)
    assert shown["Time"] == m["time"], shown
    # The value the table of anomalous steps prints for that step, in percent like the chart.
    table = browser.find_element(By.XPATH, "//section[h2[starts-with(., 'Anomalous time steps')]]//table")
    headers = [h.text for h in table.find_elements(By.TAG_NAME, "th")]
    row = table.find_element(By.XPATH, f".//tr[td[1][normalize-space()='{m['time']}']]")
    value = row.find_elements(By.TAG_NAME, "td")[headers.index("Value")].text
    assert value.endswith("%") and shown["Actual"] == value, (shown, value)

    ActionChains(browser).move_to_element_with_offset(over, round(m["dx"]), round(m["dy"])).click().perform()
    WebDriverWait(browser, 30).until(lambda d: "/rca?" in d.current_url)
    assert browser.current_url.endswith(m["link"]), (browser.current_url, m["link"])
    assert m["time"] in browser.find_element(By.TAG_NAME, "main").text


def test_range_buttons_change_the_steps_shown(viewer, browser):
    browser.set_window_size(1400, 1000)
    browser.get(f"{viewer}anomalies?kpi=revenue")
    plots(browser)
    scale = "const x = window.kpiscopePlots[0].uplot.scales.x; return [x.min, x.max]"
    n = browser.execute_script("return window.kpiscopePlots[0].spec.times.length")
    assert browser.execute_script(scale) == [0, n - 1]
    browser.find_element(By.XPATH, "//figure[contains(@class,'plot')]//button[normalize-space()='90 days']").click()
    assert browser.execute_script(scale) == [n - 90, n - 1]
    browser.find_element(By.XPATH, "//figure[contains(@class,'plot')]//button[normalize-space()='all']").click()
    assert browser.execute_script(scale) == [0, n - 1]

    # The forecast offers horizons: the chart then ends that many days after the last actual.
    browser.get(f"{viewer}forecast?kpi=revenue")
    plots(browser)
    now = browser.execute_script("return window.kpiscopePlots[0].spec.now")
    browser.find_element(By.XPATH, "//figure[contains(@class,'plot')]//button[normalize-space()='next 7 days']").click()
    assert browser.execute_script(scale)[1] == now + 7


@pytest.mark.parametrize("width", [420, 1920])
def test_no_chart_is_wider_than_the_page(viewer, browser, width):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    for page in PAGES:
        browser.get(f"{viewer}{page}")
        drawn = plots(browser, at_least=0) if not browser.find_elements(By.CSS_SELECTOR, "figure.plot") \
            else plots(browser)
        overflow = browser.execute_script("""
            const limit = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll('figure.plot, .uplot, canvas, svg.chart')]
              .filter(e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > limit + 0.5);
            return [document.documentElement.scrollWidth - limit, wide.map(e => e.className.baseVal ?? e.className)];""")
        assert overflow == [0, []], (page, width, overflow)
        if drawn:
            # The chart follows the page: narrow on a phone, wider than the SVG's 900 on a big screen.
            chart = browser.execute_script("return window.kpiscopePlots[0].uplot.width")
            assert (chart < 420) if width == 420 else (chart > 900), (page, chart)
