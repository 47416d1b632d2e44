#!/usr/bin/env bash
# Provisions the TamaGo Go distribution that builds Ferry's image, offline when it can.
#
# Order of preference:
#   1. $(os.UserCacheDir)/tamago-go/$TAG/bin/go already built: nothing to do.
#   2. A source tarball ($TAMAGO_TARBALL, else ../shared/toolchain/$TAG.tar.gz):
#      unpack it into the cache and build it with the host Go as bootstrap.
#   3. Neither: `go tool tamago` clones and builds it (needs the internet).
# Prints the path of the distribution's go binary on stdout, logs on stderr.
set -euo pipefail

TAG=${TAMAGO_TAG:-tamago-go1.26.0}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=$(go run "$here/scripts/usercachedir.go")
root="$cache/tamago-go/$TAG"
tarball=${TAMAGO_TARBALL:-$here/../shared/toolchain/$TAG.tar.gz}

if [ -x "$root/bin/go" ]; then
	echo "$root/bin/go"
	exit 0
fi

if [ -f "$tarball" ]; then
	echo "toolchain: building $TAG from $tarball into $root (a few minutes)" >&2
	tmp=$(mktemp -d "$cache/tamago-go/.build.XXXXXX" 2>/dev/null || { mkdir -p "$cache/tamago-go"; mktemp -d "$cache/tamago-go/.build.XXXXXX"; })
	trap 'rm -rf "$tmp"' EXIT
	tar -xzf "$tarball" -C "$tmp"
	[ -d "$tmp/$TAG/src" ] || { echo "toolchain: $tarball does not hold $TAG/src" >&2; exit 1; }
	(cd "$tmp/$TAG/src" && GOROOT_BOOTSTRAP=$(go env GOROOT) ./make.bash >&2)
	# The tree is built in place and moved as a whole, so a half-built tree is never seen.
	rm -rf "$root"
	mv "$tmp/$TAG" "$root"
	echo "$root/bin/go"
	exit 0
fi

echo "toolchain: no $tarball; letting 'go tool tamago' fetch $TAG" >&2
(cd "$here" && go tool tamago version >&2)
[ -x "$root/bin/go" ] || { echo "toolchain: 'go tool tamago' did not leave $root/bin/go" >&2; exit 1; }
echo "$root/bin/go"
