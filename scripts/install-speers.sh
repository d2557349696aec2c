#!/usr/bin/env bash
# Installs the third-party SAML service providers that internal/speers drives
# (Gatehouse's app-facing IdP interop tests): Shibboleth SP 3 with Apache,
# pysaml2 + xmlsec1 (Debian packages), and @node-saml/node-saml from the npm
# registry at the versions pinned in internal/speers/node/package-lock.json;
# and the OAuth peers internal/jwtpeers drives: the token verifiers jose
# and oauth4webapi and the client openid-client (pinned in
# internal/jwtpeers/node/package-lock.json), and Debian's python3-jwt;
# and the SCIM cross-checks internal/scim/scimpeers drives: scim-patch and
# scim2-parse-filter (pinned in internal/scim/node/package-lock.json).
# Idempotent: apt runs only for missing packages, npm ci only when
# node_modules is missing or was installed from another lockfile.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages=(apache2 libapache2-mod-shib python3-pysaml2 xmlsec1 python3-jwt python3-cryptography nodejs npm)

missing=()
for p in "${packages[@]}"; do
	if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
		missing+=("$p")
	fi
done
# A Node.js that did not come from Debian (nodesource, nvm) is fine too.
if command -v node >/dev/null && command -v npm >/dev/null; then
	keep=()
	for p in "${missing[@]}"; do
		[[ $p == nodejs || $p == npm ]] || keep+=("$p")
	done
	missing=("${keep[@]+"${keep[@]}"}")
fi

if ((${#missing[@]} == 0)); then
	echo "==> SP packages already installed: ${packages[*]}"
else
	echo "==> installing ${missing[*]}"
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# npm_ci DIR WHAT MODULE: npm ci in DIR unless its node_modules was installed
# from the current package-lock.json and holds MODULE.
npm_ci() {
	local node_dir=$1 what=$2 module=$3
	local stamp=$node_dir/node_modules/.speers-lock.sha256
	local want
	want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
	if [[ -f $stamp && $(cat "$stamp") == "$want" && -f $node_dir/node_modules/$module/package.json ]]; then
		echo "==> $what dependencies up to date"
	else
		echo "==> npm ci in $node_dir"
		(cd "$node_dir" && npm ci --no-audit --no-fund)
		echo "$want" >"$stamp"
	fi
}

npm_ci "$root/internal/speers/node" "node-saml SP" @node-saml/node-saml
npm_ci "$root/internal/jwtpeers/node" "jose, oauth4webapi and openid-client" oauth4webapi
npm_ci "$root/internal/scim/node" "scim-patch and scim2-parse-filter" scim-patch
