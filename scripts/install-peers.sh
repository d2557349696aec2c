#!/usr/bin/env bash
# Installs the third-party peers the interoperability and browser tests
# drive (Debian packages): pysaml2 + xmlsec1, SimpleSAMLphp with the PHP
# modules it needs, headless Chromium, and nginx (the reverse proxy of the
# multi-instance topology test, internal/topology). Skips apt when all are present.
set -euo pipefail

packages=(xmlsec1 python3-pysaml2 simplesamlphp php-xml php-mbstring php-curl php-cli chromium nginx-light)

missing=()
for p in "${packages[@]}"; do
	if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "==> peers already installed: ${packages[*]}"
	exit 0
fi

echo "==> installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo)
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
