#!/usr/bin/env bash
# Builds the capme Splunk app.
#
# Always: vendors splunk-sdk 3.0.x (splunklib, pure Python) into capme_app/bin/lib (not
# committed), so that the source tree runs as an app (the tests use it).
#
# --package: writes dist/capme_app.tgz, the default package: no compiled code at all. Its
#   command asks a `capme serve` (capme.conf `server = URL`) with the Python standard library,
#   or runs a `capme` CLI installed on the search head; it passes AppInspect (precert).
# --with-module WHEEL (with --package; --with-wheel is the old name): writes instead
#   dist/capme_app-x86_64.tgz, the on-premises x86_64 package that also carries the compiled
#   capme module of WHEEL (the abi3 manylinux2014 x86_64 wheel) in bin/lib, for a search head
#   that mounts the store itself. Splunk 10 deprecates binary modules inside apps and AppInspect
#   fails a module that is x86_64 only, so this package is for on-premises x86_64 search heads.
#   The module goes into the package only, never into the source tree.
#
#   usage: capme-py/splunk/build.sh [--package] [--with-module WHEEL] [--python PYTHON]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/capme_app"
wheel=""
package=0
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --with-module|--with-wheel) wheel="$2"; shift 2 ;;
        --package) package=1; shift ;;
        --python) python="$2"; shift 2 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -n "$wheel" ] && [ "$package" = 0 ]; then
    echo "build.sh: --with-module goes with --package (the module never enters the source tree)" >&2
    exit 2
fi

pipi() {
    "$python" -m pip install --quiet --disable-pip-version-check --no-compile "$@"
}

# splunk-sdk 3.x declares Requires-Python >= 3.13 (Splunk 10.2's Python, which the app
# declares with python.required = 3.13). The Python that builds the app may be older (it only
# copies the pure-Python wheel): --ignore-requires-python. The command runs with splunklib 3.0
# on 3.9 (Splunk 9.x) too; the tests run it on the test interpreter.
# Its splunklib.ai subpackage (LLM agents; needs Python 3.10+ syntax and packages the app does
# not ship) is not used by the app and is left out.
rm -rf "$app/bin/lib"
mkdir -p "$app/bin/lib"
pipi --target "$app/bin/lib" --no-deps --only-binary=:all: --ignore-requires-python \
    'splunk-sdk==3.0.*'
rm -rf "$app/bin/lib/splunklib/ai" "$app/bin/lib/bin"
find "$app/bin/lib" -name '__pycache__' -type d -prune -exec rm -rf {} +
chmod +x "$app/bin/capme_command.py" "$app/bin/capme_input.py"
echo "vendored $(ls -d "$app"/bin/lib/splunk_sdk-*.dist-info | xargs basename) into $app/bin/lib"

if [ "$package" = 1 ]; then
    mkdir -p "$here/dist"
    stage="$(mktemp -d -t capme-splunk.XXXXXX)"
    trap 'rm -rf "$stage"' EXIT
    cp -a "$app" "$stage/capme_app"
    rm -rf "$stage/capme_app/local" "$stage/capme_app/dispatch"
    find "$stage/capme_app" \( -name '__pycache__' -o -name '*.pyc' \) -prune -exec rm -rf {} +
    name=capme_app.tgz
    if [ -n "$wheel" ]; then
        pipi --no-deps --target "$stage/capme_app/bin/lib" "$wheel"
        find "$stage/capme_app/bin/lib" -name '__pycache__' -type d -prune -exec rm -rf {} +
        name=capme_app-x86_64.tgz
    fi
    # Splunk wants the files readable by all and the scripts executable; no owner names.
    chmod -R u+rwX,go+rX,go-w "$stage/capme_app"
    tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$here/dist/$name" capme_app
    echo "wrote $here/dist/$name${wheel:+ (with the compiled module of $(basename "$wheel"))}"
fi
