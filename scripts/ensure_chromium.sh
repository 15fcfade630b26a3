#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver, for the test that opens the explain HTML report in a real headless
# browser (tests/explain/test_report_browser.py runs this when they are missing). Installs when we are root
# with apt-get; otherwise says how. Exit 0 either way: the test skips, saying why, without a browser.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver (for the HTML report's browser test)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: could not install chromium; the browser test will skip"
else
  echo "note: chromium/chromedriver not found; install them (e.g. 'sudo apt-get install chromium chromium-driver')"
  echo "      to run the HTML report's browser test."
fi
exit 0
