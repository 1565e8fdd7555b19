#!/usr/bin/env bash
# Builds the images the e2e suite runs the compose stack with, without any
# container registry:
#
#   bazaar:test            FROM scratch + the static binary built on the host
#   bazaar-test-postgres:17    Debian trixie + PostgreSQL 17 + pgBackRest, official-image-like entry point
#   bazaar-test-nginx:1.30     Debian sid + nginx 1.30 + envsubst, official-image-like entry point
#   bazaar-test-monitoring:trixie  Debian trixie + Prometheus, Alertmanager and three exporters,
#                              the entry point of deploy/monitoring/Dockerfile (same suite, same packages)
#
# The suites are chosen for the versions production runs (docker-compose.yml
# pins postgres:17 and nginx:1.30): trixie carries PostgreSQL 17, and only
# sid carries an nginx new enough (1.27.3 or later) for `resolve` in an
# upstream. Each Debian image is a root file system made with debootstrap
# from the machine's own Debian mirror (sid and trixie are on the same
# mirror as the host's own suite; nothing is added to the host's apt
# sources). Each rootfs is cached as a tar under .cache/, keyed by (mirror,
# suite, packages, this script); every image carries its own key in the
# label bazaar.test.key and is only rebuilt when the key changes.
#
# Usage: deploy/test/build-images.sh [path/to/static/bazaar]
# (without a binary, only the two Debian images: what `make test` needs for
# the nginx tests, which run the nginx of bazaar-test-nginx)
#
# Environment:
#   BAZAAR_TEST_APP_IMAGE  tag of the app image (default bazaar:test), so a
#                          suite can build a second binary (a new release)
#                          without touching the image others use
#   BAZAAR_DEBIAN_MIRROR   Debian mirror URI (default: the host's own)
# Needs root (debootstrap, chroot) the first time a rootfs is built.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/.cache
app_image=${BAZAAR_TEST_APP_IMAGE:-bazaar:test}
pg_major=17
pg_suite=trixie
# pgBackRest at the exact version the production image pins
# (deploy/postgres/Dockerfile), socat and jq for the backup service.
pgbackrest_version=$(sed -n 's/^ARG PGBACKREST_VERSION=//p' "$here/../postgres/Dockerfile")
pg_packages=("postgresql-$pg_major" "pgbackrest=$pgbackrest_version" socat jq)
nginx_major=1.30
nginx_suite=sid
nginx_packages=(nginx gettext-base)
# The monitoring profile (docker-compose.yml): one image for its five
# services, as deploy/monitoring/Dockerfile builds it for production: the
# same suite and packages, so the rules are tested (make rules) with the
# promtool of the Prometheus that runs them.
monitoring_suite=trixie
monitoring_packages=(prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-nginx-exporter prometheus-node-exporter)
label=bazaar.test.key

log() { printf '%s build-images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bin=${1:-}
[ -z "$bin" ] || [ -x "$bin" ] || die "usage: $0 [path/to/static/bazaar] (not executable: '${bin}')"

# debian_mirror prints the URI of the Debian archive the host's apt uses:
# the deb822 stanza or one-line "deb" entry whose suites include the host's
# own codename (from /etc/os-release), or else any entry for a suite of the
# main archive. sid and trixie live on the same mirror, so nothing needs to
# be added to the host's sources. BAZAAR_DEBIAN_MIRROR overrides;
# deb.debian.org is the fallback for hosts that are not Debian (a CI runner
# on Ubuntu, say).
debian_mirror() {
	if [ -n "${BAZAAR_DEBIAN_MIRROR:-}" ]; then
		echo "${BAZAAR_DEBIAN_MIRROR%/}"
		return
	fi
	local codename='' uri='' f
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true
	local suites_re="^(${codename:-bookworm}|bookworm|trixie|forky|sid|unstable|testing|stable)\$"
	shopt -s nullglob
	for f in /etc/apt/sources.list.d/*.sources; do
		uri=$(awk -v re="$suites_re" 'BEGIN { RS = ""; FS = "\n" }
			{
				uris = ""; ok = 0; deb = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
					if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
					if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] ~ re) ok = 1 }
					if ($i ~ /^Enabled:[ \t]*no/) { ok = 0 }
				}
				if (ok && deb && uris != "") { print uris; exit }
			}' "$f")
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ]; then
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			uri=$(awk -v re="$suites_re" '$1 == "deb" {
					i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
					if ($(i+1) ~ re) { print $i; exit }
				}' "$f")
			[ -n "$uri" ] && break
		done
	fi
	shopt -u nullglob
	if [ -z "$uri" ]; then
		uri=http://deb.debian.org/debian
		log "no apt source names the Debian archive; using $uri"
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
	key=$( { sha256sum <"$bin"; echo v2; } | hash)
	if [ "$(image_key "$app_image")" = "$key" ]; then
		log "$app_image is current ($key)"
		return
	fi
	log "building $app_image ($key)"
	local ctx
	ctx=$(mktemp -d)
	install -m 0755 "$bin" "$ctx/bazaar"
	# As the Dockerfile: the photo directory belongs to the app's user, so
	# an empty volume mounted on it takes that owner (docker-compose.yml).
	install -d -m 0755 "$ctx/var/lib/bazaar/photos"
	tar -C "$ctx" --owner=0 --group=0 --numeric-owner -cf "$ctx.tar" bazaar
	tar -C "$ctx" --owner=0 --group=0 --numeric-owner --no-recursion -rf "$ctx.tar" var var/lib var/lib/bazaar
	tar -C "$ctx" --owner=65532 --group=65532 --numeric-owner --no-recursion -rf "$ctx.tar" var/lib/bazaar/photos
	docker import \
			--change 'USER 65532:65532' \
			--change 'ENTRYPOINT ["/bazaar"]' \
			--change 'CMD ["serve"]' \
			--change 'EXPOSE 8080' \
			--change "LABEL $label=$key" \
			"$ctx.tar" "$app_image" >/dev/null
	rm -rf "$ctx" "$ctx.tar"
}

# build_rootfs NAME KEY MIRROR SUITE PACKAGE... makes
# $cache/rootfs-NAME-KEY.tar unless it exists.
build_rootfs() {
	local name=$1 key=$2 mirror=$3 suite=$4
	shift 4
	local packages=("$@")
	local tarball=$cache/rootfs-$name-$key.tar
	if [ -f "$tarball" ]; then
		log "rootfs cache hit: $tarball"
		return
	fi
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap debian-archive-keyring)"
	[ "$(id -u)" = 0 ] || die "building the Debian rootfs needs root (debootstrap and chroot)"
	mkdir -p "$cache"
	local dir=$cache/rootfs-$name-$key.d
	rm -rf "$dir"
	trap 'umount "'"$dir"'/proc" 2>/dev/null || true' EXIT
	log "debootstrap --variant=minbase $suite from $mirror"
	local start=$SECONDS
	debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$cache/debootstrap-$name.log" 2>&1 ||
		{ tail -20 "$cache/debootstrap-$name.log" >&2; die "debootstrap failed (log: $cache/debootstrap-$name.log)"; }
	log "debootstrap $suite took $((SECONDS - start))s; installing ${packages[*]}"

	# No daemons may start inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod +x "$dir/usr/sbin/policy-rc.d"
	mount -t proc proc "$dir/proc"
	start=$SECONDS
	# sid's Release file carries a Valid-Until a week ahead, and a mirror
	# snapshot may be older than that: the packages are still the ones the
	# mirror serves, signed, so only the date check is relaxed, for this
	# one build.
	{
		chroot "$dir" apt-get -o Acquire::Check-Valid-Until=false update &&
			DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y --no-install-recommends "${packages[@]}"
	} >"$cache/apt-$name.log" 2>&1 || { tail -20 "$cache/apt-$name.log" >&2; die "apt-get install failed (log: $cache/apt-$name.log)"; }
	umount "$dir/proc"
	log "apt-get install took $((SECONDS - start))s"

	# Trim and shape the tree like the official images.
	chroot "$dir" apt-get clean
	rm -rf "$dir"/var/lib/apt/lists/* "$dir/usr/sbin/policy-rc.d" \
		"$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
	case $name in
	nginx)
		rm -f "$dir"/etc/nginx/sites-enabled/default
		ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
		ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
		mkdir -p "$dir/etc/nginx/templates"
		local v
		v=$(chroot "$dir" nginx -v 2>&1) || die "nginx -v failed in the $suite rootfs: $v"
		case $v in
		*"nginx/$nginx_major."*) ;;
		*) die "the $suite rootfs has $v, not nginx $nginx_major (the version production pins)" ;;
		esac
		grep -Eq '^[[:space:]]*include[[:space:]]+/etc/nginx/conf\.d/\*\.conf;' "$dir/etc/nginx/nginx.conf" ||
			die "Debian's nginx.conf does not include /etc/nginx/conf.d/*.conf"
		;;
	postgres)
		rm -rf "$dir"/var/lib/postgresql/*/main "$dir"/etc/postgresql/*
		mkdir -p "$dir/var/lib/postgresql/data"
		[ -x "$dir/usr/lib/postgresql/$pg_major/bin/postgres" ] || die "no PostgreSQL $pg_major in the $suite rootfs"
		;;
	monitoring)
		# As deploy/monitoring/Dockerfile does: the data directories exist
		# in the image, owned by the user the services run as, so a new
		# named volume mounted there starts with that owner.
		mkdir -p "$dir/var/lib/prometheus/metrics2" "$dir/var/lib/prometheus/alertmanager"
		chroot "$dir" chown prometheus:prometheus /var/lib/prometheus/metrics2 /var/lib/prometheus/alertmanager
		local b
		for b in prometheus promtool prometheus-alertmanager prometheus-postgres-exporter prometheus-nginx-exporter prometheus-node-exporter; do
			[ -x "$dir/usr/bin/$b" ] || die "no /usr/bin/$b in the $suite rootfs"
		done
		;;
	esac

	tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$dir"
	trap - EXIT
	# Older tars of this rootfs are dead weight.
	find "$cache" -maxdepth 1 -name "rootfs-$name-*.tar" ! -name "rootfs-$name-$key.tar" -delete
	log "rootfs cached: $tarball ($(du -h "$tarball" | cut -f1))"
}

# spec_key prints the key of an image made from rootfs key $1, entry point
# script $2 and the --change instructions that follow.
spec_key() {
	{ echo "$1"; sha256sum <"$2"; printf '%s\n' "${@:3}"; } | hash
}

# import_image NAME KEY ROOTFS_TAR ENTRYPOINT_SCRIPT CHANGE... imports the
# cached rootfs plus the entry point script as NAME.
import_image() {
	local name=$1 key=$2 rootfs=$3 entrypoint=$4
	shift 4
	log "importing $name ($key)"
	local tmp
	tmp=$(mktemp -d "$cache/import.XXXXXX")
	cp "$rootfs" "$tmp/rootfs.tar"
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

# debian_image NAME IMAGE SUITE ENTRYPOINT_SCRIPT PACKAGES... -- CHANGE...
# builds IMAGE from the rootfs NAME unless its key is current.
debian_image() {
	local name=$1 image=$2 suite=$3 entry=$4
	shift 4
	local packages=() changes=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do packages+=("$1"); shift; done
	shift
	changes=("$@")
	local rootfs_key key
	rootfs_key=$( { echo "$mirror"; echo "$suite"; echo "${packages[*]}"; sha256sum <"${BASH_SOURCE[0]}"; } | hash)
	key=$(spec_key "$rootfs_key" "$entry" "${changes[@]}")
	# Imported as IMAGE-KEY, then tagged IMAGE: worktrees on one Docker
	# host share IMAGE, and one with another build-images.sh retags it at
	# any time; a suite that must run exactly this build uses IMAGE-KEY,
	# whose name is written to $cache/NAME.image (e2e.sh reads it).
	local keyed=$image-$key
	if [ "$(image_key "$keyed")" = "$key" ]; then
		log "$keyed is current"
	else
		build_rootfs "$name" "$rootfs_key" "$mirror" "$suite" "${packages[@]}"
		import_image "$keyed" "$key" "$cache/rootfs-$name-$rootfs_key.tar" "$entry" "${changes[@]}"
	fi
	docker tag "$keyed" "$image"
	mkdir -p "$cache"
	echo "$keyed" >"$cache/$name.image"
}

main() {
	local start=$SECONDS
	[ -n "$pgbackrest_version" ] || die "deploy/postgres/Dockerfile has no ARG PGBACKREST_VERSION="
	if [ -n "$bin" ]; then
		build_app_image
	fi
	mirror=$(debian_mirror)

	debian_image postgres "bazaar-test-postgres:$pg_major" "$pg_suite" "$here/images/postgres/docker-entrypoint.sh" \
		"${pg_packages[@]}" -- \
		"ENV PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		'ENV PGDATA=/var/lib/postgresql/data' \
		'ENV LANG=C.UTF-8' \
		"ENV PG_MAJOR=$pg_major" \
		'ENTRYPOINT ["docker-entrypoint.sh"]' \
		'CMD ["postgres"]' \
		'EXPOSE 5432'
	debian_image nginx "bazaar-test-nginx:$nginx_major" "$nginx_suite" "$here/images/nginx/docker-entrypoint.sh" \
		"${nginx_packages[@]}" -- \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'ENTRYPOINT ["docker-entrypoint.sh"]' \
		'CMD ["nginx", "-g", "daemon off;"]' \
		'EXPOSE 80'
	debian_image monitoring "bazaar-test-monitoring:$monitoring_suite" "$monitoring_suite" "$here/../monitoring/docker-entrypoint.sh" \
		"${monitoring_packages[@]}" -- \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'ENTRYPOINT ["docker-entrypoint.sh"]' \
		'USER prometheus'
	log "images ready in $((SECONDS - start))s"
}

main
