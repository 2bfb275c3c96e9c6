"""The UI tour a new user takes after `make demo` + `make up`, in a real headless Chromium (Debian's
`chromium` + `chromium-driver`; nothing is downloaded): the demo's runs went through the scheduler, so
the `register` log shows the decision (REST and the UI); the `refit` log is short and ends saying what
was trained; the task's extra links land on MLflow's model-training run page and on a model version
whose page shows the decision summary and the champion alias; unpausing bankchurn_training gives a
successful scheduled run on today's data. Screenshots of each page go to $MLOPS_UI_SCREENSHOTS (the
README's tour uses the ones in docs/ui/: `MLOPS_UI_SCREENSHOTS=docs/ui pytest -m browser`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import REPO, load_script

pytestmark = [pytest.mark.integration, pytest.mark.browser]
BIN = Path(sys.executable).parent
DAG = "bankchurn_training"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()  # nosec B310 - loopback test server
            return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000", "--disable-gpu"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    """`make demo` for bankchurn (2 trials a run), then the UIs of `make up` on its stores."""
    home = tmp_path_factory.mktemp("ui-demo")
    af_port, ml_port = _free_port(), _free_port()
    env = {**os.environ, "MLOPS_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(af_port), "AIRFLOW__CORE__PARALLELISM": "2",
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{af_port}/execution/",
           "MLFLOW_UI_URL": f"http://127.0.0.1:{ml_port}", "PYTHONPATH": str(REPO), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    (home / "airflow").mkdir()
    t0 = time.monotonic()
    out = subprocess.run([str(BIN / "python"), str(REPO / "scripts" / "demo.py"), "--projects", "bankchurn", "--n-trials", "2"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, f"demo failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}\n" + \
        (home / "demo-airflow.log").read_text(errors="replace")[-3000:]
    print(f"demo (bankchurn x2) through the scheduler: {time.monotonic() - t0:.0f}s\n{out.stdout}")
    procs = [subprocess.Popen([str(BIN / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(ml_port),
                               "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                               "--default-artifact-root", f"file://{home / 'mlartifacts'}", "--x-frame-options", "NONE"],
                              env=env, stdout=open(home / "mlflow-ui.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True),
             subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=open(home / "up-airflow.log", "ab"),
                              stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)]
    try:
        api = load_script("demo").Airflow(f"http://127.0.0.1:{af_port}", home / "airflow")
        api.login()
        _wait_http(f"http://127.0.0.1:{ml_port}/health")
        password = next(iter(json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()).values()))
        yield {"api": api, "airflow": f"http://127.0.0.1:{af_port}", "mlflow": f"http://127.0.0.1:{ml_port}", "password": password,
               "home": home}
    finally:
        for proc in procs:
            load_script("demo").stop_group(proc)


def _runs(api, **query: str) -> list[dict]:  # type: ignore[no-untyped-def]
    q = urllib.parse.urlencode({"order_by": "-run_after", **query})
    return list(api.call("GET", f"/api/v2/dags/{DAG}/dagRuns?{q}")["dag_runs"])


def _log(api, run_id: str, task: str) -> str:  # type: ignore[no-untyped-def]
    out = api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task}/logs/1?full_content=true")
    return "\n".join(str(c.get("event", "")) if isinstance(c, dict) else str(c) for c in out["content"])


class Tour:
    """Page visits with a screenshot each (to $MLOPS_UI_SCREENSHOTS, else a temp folder)."""

    def __init__(self, drv, shots: Path):  # type: ignore[no-untyped-def]
        self.drv, self.shots = drv, shots
        shots.mkdir(parents=True, exist_ok=True)

    def open(self, url: str, expect: str, shot: str, timeout: float = 60) -> str:
        """Load `url` and wait until the rendered page text contains `expect`; return that text."""
        self.drv.get("about:blank")  # a URL differing only in its #fragment would not reload the single-page app
        self.drv.get(url)
        return self.wait_text(expect, shot, timeout)

    def body_text(self) -> str:
        """The rendered text; "" while the page swaps its DOM (redirects, React re-renders)."""
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.common.by import By

        try:
            return str(self.drv.find_element(By.TAG_NAME, "body").text)
        except (StaleElementReferenceException, NoSuchElementException):
            return ""

    def wait_text(self, expect: str, shot: str, timeout: float = 60) -> str:
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.body_text()
            if expect in text:
                time.sleep(1)  # let late panels render before the screenshot
                self.drv.save_screenshot(str(self.shots / f"{shot}.png"))
                return self.body_text() or text
            time.sleep(1)
        self.drv.save_screenshot(str(self.shots / f"{shot}-FAILED.png"))
        raise AssertionError(f"{self.drv.current_url} never showed {expect!r}; it shows:\n{text[:2000]}")


def test_ui_tour(demo, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    api, af, ml = demo["api"], demo["airflow"], demo["mlflow"]
    tour = Tour(browser, Path(os.environ.get("MLOPS_UI_SCREENSHOTS") or tmp_path / "shots").resolve())

    # 1. The demo's runs went through the scheduler: real task logs, readable over REST.
    runs = _runs(api)
    assert [r["state"] for r in runs] == ["success", "success"], runs
    # The demo's manual runs hold no logical date: one at a schedule boundary would take the slot of the
    # scheduled run whose interval starts there, and step 4 would wait for a run the scheduler skipped.
    assert [r["logical_date"] for r in runs] == [None, None], runs
    newest, first = (dt.date.fromisoformat(r["run_after"][:10]) for r in runs)
    assert newest - first == dt.timedelta(days=2), runs  # as of two days ago, then as of today
    latest = runs[0]["dag_run_id"]
    register_log = _log(api, latest, "register")
    assert "== register: bankchurn v2" in register_log, register_log[-2000:]
    decision_line = next(line for line in register_log.splitlines() if "== register:" in line)
    refit_log = _log(api, latest, "refit").strip().splitlines()
    assert len(refit_log) < 150, f"refit log is {len(refit_log)} lines:\n" + "\n".join(refit_log[:200])
    ours = [line for line in refit_log if not line.startswith(("::", "Pushing xcom", "Done. Returned value"))]  # Airflow's framing
    assert any("== refit: trained" in line for line in ours[-4:]), ours[-6:]
    assert "DeprecatedImportWarning" not in "\n".join(refit_log)

    # 2. Log in like a person, see the DAG and the register log with the decision.
    browser.get(af)
    tour.wait_text("Sign", "00-airflow-login")
    browser.find_element(By.CSS_SELECTOR, "input[type=text], input[name=username]").send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(demo["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    tour.wait_text("Health", "01-airflow-home")
    tour.open(f"{af}/dags", "bankchurn_training", "01-airflow-dags")
    tour.open(f"{af}/dags/{DAG}", "bankchurn_training", "02-airflow-dag")
    run_page = f"{af}/dags/{DAG}/runs/{urllib.parse.quote(latest)}"
    tour.open(f"{run_page}/tasks/register", "== register:", "03-airflow-register-log", timeout=90)

    # 3. The task's extra links (served by the plugin) land on MLflow's model-training pages.
    links = api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(latest)}/taskInstances/register/links")["extra_links"]
    run_link, version_link = links.get("MLflow run"), links.get("Model version")
    assert run_link and "workflowType=machine_learning" in run_link and run_link.startswith(ml), links
    assert version_link and version_link.startswith(f"{ml}/#/models/bankchurn/versions/"), links
    assert links.get("Promotion decision") and links.get("Champion comparison"), links
    tour.open(f"{run_page}/tasks/register/details", "MLflow run", "04-airflow-extra-links")
    anchors = {a.text.strip(): a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a") if a.text.strip()}
    assert anchors.get("MLflow run") == run_link, anchors

    run_text = tour.open(run_link, "Metrics", "05-mlflow-run")
    assert "Traces" not in run_text.split("Metrics")[0] or "machine_learning" in browser.current_url, run_text[:1500]
    assert "workflowType=machine_learning" in browser.current_url

    version_text = tour.open(version_link, "champion", "06-mlflow-model-version")
    assert "Decision" in version_text or "PROMOTED" in version_text.upper(), version_text[:3000]
    decision_word = decision_line.split(":")[2].split()[0].strip().lower()  # promoted | kept_champion | rejected
    assert decision_word.replace("_", " ") in version_text.lower().replace("_", " "), (decision_word, version_text[:3000])

    tour.open(links["Promotion decision"], "Promotion decision", "07-mlflow-decision")
    assert "/artifactPath/" in links["Promotion decision"] and "/artifactPath/" in links["Champion comparison"], links  # not downloads
    tour.open(links["Champion comparison"], "comparison.html", "08-mlflow-comparison")

    # 4. Unpause: the scheduler runs the current interval on data up to yesterday, and it succeeds.
    before = {r["dag_run_id"] for r in runs}
    api.call("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    deadline, scheduled = time.monotonic() + 900, None
    while time.monotonic() < deadline:
        new = [r for r in _runs(api) if r["dag_run_id"] not in before]
        if new and new[0]["state"] in ("success", "failed"):
            scheduled = new[0]
            break
        time.sleep(5)
    api.call("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": True})
    assert scheduled is not None, "unpausing started no run within 15 minutes"
    assert scheduled["run_type"] == "scheduled" and scheduled["state"] == "success", scheduled
    tour.open(f"{af}/dags/{DAG}/runs/{urllib.parse.quote(scheduled['dag_run_id'])}", "Success", "09-airflow-scheduled-run")
