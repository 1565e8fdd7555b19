#!/usr/bin/env bash
# Builds the images the e2e suite runs the compose stack with, without any
# container registry:
#
#   bazaar:test            FROM scratch + the static binary built on the host
#   bazaar-test-postgres   Debian bookworm + postgresql, official-image-like entry point
#   bazaar-test-nginx      Debian bookworm + nginx + envsubst, official-image-like entry point
#
# The two Debian images share one root file system made with debootstrap from
# the machine's own Debian mirror. It is cached as a tar under .cache/, keyed
# by (mirror, suite, packages, this script); every image carries its own key
# in the label bazaar.test.key and is only rebuilt when the key changes.
#
# Usage: deploy/test/build-images.sh path/to/static/bazaar
# Needs root (debootstrap, chroot) the first time the rootfs is built.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/.cache
suite=bookworm
packages=(postgresql nginx gettext-base)
label=bazaar.test.key

log() { printf '%s build-images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || die "usage: $0 path/to/static/bazaar (missing or not executable: '${bin}')"

# debian_mirror prints the URI apt uses for $suite: the deb822 stanza whose
# Suites line names the suite exactly, else a one-line "deb URI suite" entry.
# BAZAAR_DEBIAN_MIRROR overrides; deb.debian.org is the fallback for hosts that
# are not Debian bookworm (a CI runner on Ubuntu, say).
debian_mirror() {
	if [ -n "${BAZAAR_DEBIAN_MIRROR:-}" ]; then
		echo "$BAZAAR_DEBIAN_MIRROR"
		return
	fi
	local uri=''
	shopt -s nullglob
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		uri=$(awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
			{
				uris = ""; ok = 0; deb = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
					if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
					if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
					if ($i ~ /^Enabled:[ \t]*no/) { ok = 0 }
				}
				if (ok && deb && uris != "") { print uris; exit }
			}' "$f")
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ]; then
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			uri=$(awk -v suite="$suite" '$1 == "deb" {
					i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
					if ($(i+1) == suite) { print $i; exit }
				}' "$f")
			[ -n "$uri" ] && break
		done
	fi
	shopt -u nullglob
	if [ -z "$uri" ]; then
		uri=http://deb.debian.org/debian
		log "no apt source names $suite; using $uri"
	fi
	echo "${uri%/}"
}

# image_key prints the bazaar.test.key label of an image, or nothing.
image_key() {
	docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true
}

hash() { sha256sum | cut -c1-16; }

build_app_image() {
	local key
	key=$( { sha256sum <"$bin"; echo v1; } | hash)
	if [ "$(image_key bazaar:test)" = "$key" ]; then
		log "bazaar:test is current ($key)"
		return
	fi
	log "building bazaar:test ($key)"
	local ctx
	ctx=$(mktemp -d)
	install -m 0755 "$bin" "$ctx/bazaar"
	tar -C "$ctx" --owner=0 --group=0 --numeric-owner -cf - bazaar |
		docker import \
			--change 'USER 65532:65532' \
			--change 'ENTRYPOINT ["/bazaar"]' \
			--change 'CMD ["serve"]' \
			--change 'EXPOSE 8080' \
			--change "LABEL $label=$key" \
			- bazaar:test >/dev/null
	rm -rf "$ctx"
}

# build_rootfs makes $cache/rootfs-$1.tar unless it exists.
build_rootfs() {
	local key=$1 mirror=$2
	local tarball=$cache/rootfs-$key.tar
	if [ -f "$tarball" ]; then
		log "rootfs cache hit: $tarball"
		return
	fi
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap debian-archive-keyring)"
	[ "$(id -u)" = 0 ] || die "building the Debian rootfs needs root (debootstrap and chroot)"
	mkdir -p "$cache"
	local dir=$cache/rootfs-$key.d
	rm -rf "$dir"
	trap 'umount "'"$dir"'/proc" 2>/dev/null || true' EXIT
	log "debootstrap --variant=minbase $suite from $mirror"
	local start=$SECONDS
	debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
	log "debootstrap took $((SECONDS - start))s; installing ${packages[*]}"

	# No daemons may start inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod +x "$dir/usr/sbin/policy-rc.d"
	mount -t proc proc "$dir/proc"
	start=$SECONDS
	{
		chroot "$dir" apt-get update &&
			DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y --no-install-recommends "${packages[@]}"
	} >"$cache/apt.log" 2>&1 || { tail -20 "$cache/apt.log" >&2; die "apt-get install failed (log: $cache/apt.log)"; }
	umount "$dir/proc"
	log "apt-get install took $((SECONDS - start))s"

	# Trim and shape the tree like the official images.
	chroot "$dir" apt-get clean
	rm -rf "$dir"/var/lib/apt/lists/* "$dir/usr/sbin/policy-rc.d" \
		"$dir"/var/lib/postgresql/*/main "$dir"/etc/postgresql/* \
		"$dir"/etc/nginx/sites-enabled/default \
		"$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
	ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
	ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
	mkdir -p "$dir/etc/nginx/templates" "$dir/var/lib/postgresql/data"
	grep -Eq '^[[:space:]]*include[[:space:]]+/etc/nginx/conf\.d/\*\.conf;' "$dir/etc/nginx/nginx.conf" ||
		die "Debian's nginx.conf does not include /etc/nginx/conf.d/*.conf"
	ls "$dir"/usr/lib/postgresql/*/bin/postgres >/dev/null || die "no postgres binary in the rootfs"

	tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$dir"
	trap - EXIT
	# Older rootfs tars are dead weight.
	find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
	log "rootfs cached: $tarball ($(du -h "$tarball" | cut -f1))"
}

# spec_key prints the key of an image made from rootfs key $1, entry point
# script $2 and the --change instructions that follow.
spec_key() {
	{ echo "$1"; sha256sum <"$2"; printf '%s\n' "${@:3}"; } | hash
}

# import_image NAME KEY ROOTFS_KEY ENTRYPOINT_SCRIPT CHANGE... imports the
# cached rootfs plus the entry point script as NAME.
import_image() {
	local name=$1 key=$2 rootfs_key=$3 entrypoint=$4
	shift 4
	log "importing $name ($key)"
	local tmp
	tmp=$(mktemp -d "$cache/import.XXXXXX")
	cp "$cache/rootfs-$rootfs_key.tar" "$tmp/rootfs.tar"
	mkdir -p "$tmp/add/usr/local/bin"
	install -m 0755 "$entrypoint" "$tmp/add/usr/local/bin/docker-entrypoint.sh"
	# Naming the file alone appends no directory entries that could
	# override the modes of /usr, /usr/local or /usr/local/bin.
	tar -C "$tmp/add" --owner=0 --group=0 --numeric-owner -rf "$tmp/rootfs.tar" usr/local/bin/docker-entrypoint.sh
	local changes=()
	local c
	for c in "$@" "LABEL $label=$key"; do
		changes+=(--change "$c")
	done
	docker import "${changes[@]}" "$tmp/rootfs.tar" "$name" >/dev/null
	rm -rf "$tmp"
}

main() {
	local start=$SECONDS
	build_app_image

	local mirror rootfs_key
	mirror=$(debian_mirror)
	rootfs_key=$( { echo "$mirror"; echo "$suite"; echo "${packages[*]}"; sha256sum <"${BASH_SOURCE[0]}"; } | hash)

	local pg_entry=$here/images/postgres/docker-entrypoint.sh
	local pg_changes=(
		'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		'ENV PGDATA=/var/lib/postgresql/data'
		'ENV LANG=C.UTF-8'
		'ENTRYPOINT ["docker-entrypoint.sh"]'
		'CMD ["postgres"]'
		'EXPOSE 5432'
	)
	local nginx_entry=$here/images/nginx/docker-entrypoint.sh
	local nginx_changes=(
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		'ENTRYPOINT ["docker-entrypoint.sh"]'
		'CMD ["nginx", "-g", "daemon off;"]'
		'EXPOSE 80'
	)
	local pg_key nginx_key
	pg_key=$(spec_key "$rootfs_key" "$pg_entry" "${pg_changes[@]}")
	nginx_key=$(spec_key "$rootfs_key" "$nginx_entry" "${nginx_changes[@]}")

	if [ "$(image_key bazaar-test-postgres)" = "$pg_key" ] && [ "$(image_key bazaar-test-nginx)" = "$nginx_key" ]; then
		log "bazaar-test-postgres and bazaar-test-nginx are current ($pg_key, $nginx_key)"
	else
		build_rootfs "$rootfs_key" "$mirror"
		if [ "$(image_key bazaar-test-postgres)" != "$pg_key" ]; then
			import_image bazaar-test-postgres "$pg_key" "$rootfs_key" "$pg_entry" "${pg_changes[@]}"
		fi
		if [ "$(image_key bazaar-test-nginx)" != "$nginx_key" ]; then
			import_image bazaar-test-nginx "$nginx_key" "$rootfs_key" "$nginx_entry" "${nginx_changes[@]}"
		fi
	fi
	log "images ready in $((SECONDS - start))s"
}

main
