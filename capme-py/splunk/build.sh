#!/usr/bin/env bash
# Vendors splunk-sdk 2.1.x (splunklib) into capme_app/bin/lib (not committed), and with
# --with-wheel WHEEL also the compiled capme package (for Splunk 9.x; Splunk 10 deprecates binary
# modules inside apps: without it the command calls the capme CLI). With --package, writes
# dist/capme_app.tgz for installation.
#   usage: capme-py/splunk/build.sh [--with-wheel PATH] [--package] [--python PYTHON]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/capme_app"
wheel=""
package=0
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --with-wheel) wheel="$2"; shift 2 ;;
        --package) package=1; shift ;;
        --python) python="$2"; shift 2 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
rm -rf "$app/bin/lib"
mkdir -p "$app/bin/lib"
"$python" -m pip install --quiet --disable-pip-version-check --no-compile \
    --target "$app/bin/lib" 'splunk-sdk==2.1.*'
if [ -n "$wheel" ]; then
    "$python" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
        --target "$app/bin/lib" "$wheel"
fi
find "$app/bin/lib" -name '__pycache__' -type d -prune -exec rm -rf {} +
chmod +x "$app/bin/capme_command.py" "$app/bin/capme_input.py"
if [ "$package" = 1 ]; then
    mkdir -p "$here/dist"
    tar -C "$here" --exclude='__pycache__' --exclude='local' -czf "$here/dist/capme_app.tgz" capme_app
    echo "wrote $here/dist/capme_app.tgz"
fi
echo "vendored splunklib${wheel:+ and $(basename "$wheel")} into $app/bin/lib"
