#!/bin/bash
# Entry point of the monitoring image (deploy/monitoring/Dockerfile; the e2e
# suite's bazaar-test-monitoring is the same Debian packages, built by
# deploy/test/build-images.sh). It runs the command it is given, after
# writing the configuration the two servers need into their tmpfs:
#
#   prometheus ...                 copies /etc/bazaar/monitoring/prometheus.yml
#                                  and rules.yml to /run/prometheus
#   prometheus-alertmanager ...    writes /run/alertmanager/alertmanager.yml
#                                  from BAZAAR_SMTP_URL (the app's variable)
#
# Alertmanager has no environment expansion in its file, and the SMTP
# settings must be the app's own, so the file is made here from the one URL
# the app reads: smtp://user:password@host:587 (STARTTLS required) or
# smtps://user:password@host:465 (TLS from the first byte), user and
# password percent-encoded as in any URL. Mail goes from BAZAAR_MAIL_FROM to
# BAZAAR_ALERT_EMAIL. Without BAZAAR_SMTP_URL alerts still reach
# Alertmanager (its UI and API show them) but no mail is sent; the log says
# so at start.
#
# Test only (deploy/test/compose.override.yml), so the e2e suite can see an
# alert fire within seconds: PROMETHEUS_TEST_INTERVAL replaces every
# scrape, evaluation and refresh interval of prometheus.yml, and
# PROMETHEUS_TEST_FOR every rule's `for:`. Production leaves both unset and
# runs the files as they are.
set -Eeuo pipefail

src=${BAZAAR_MONITORING_CONFIG_DIR:-/etc/bazaar/monitoring}

log() { printf '%s docker-entrypoint: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# yaml_quote prints $1 as a single-quoted YAML scalar.
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# url_decode prints $1 with its %XX escapes decoded.
url_decode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

prometheus_config() {
	local out=/run/prometheus
	mkdir -p "$out"
	local interval=${PROMETHEUS_TEST_INTERVAL:-} for=${PROMETHEUS_TEST_FOR:-}
	if [ -n "$interval" ]; then
		log "test settings: every interval $interval"
		sed -E "s/^([[:space:]]*(scrape|evaluation|refresh)_interval:).*/\\1 $interval/" "$src/prometheus.yml" >"$out/prometheus.yml"
	else
		cp "$src/prometheus.yml" "$out/prometheus.yml"
	fi
	if [ -n "$for" ]; then
		log "test settings: every rule's for: $for"
		sed -E "s/^([[:space:]]*for:).*/\\1 $for/" "$src/rules.yml" >"$out/rules.yml"
	else
		cp "$src/rules.yml" "$out/rules.yml"
	fi
}

alertmanager_config() {
	local out=/run/alertmanager
	mkdir -p "$out"
	local url=${BAZAAR_SMTP_URL:-}
	local from=${BAZAAR_MAIL_FROM:-Bazaar <no-reply@localhost>}
	local to=${BAZAAR_ALERT_EMAIL:-}
	local global='' receiver
	if [ -z "$url" ] || [ -z "$to" ]; then
		log "BAZAAR_SMTP_URL or BAZAAR_ALERT_EMAIL is unset: alerts are kept and shown, not mailed"
		receiver="  - name: email"
	else
		local scheme=${url%%://*} rest=${url#*://} userinfo='' hostport user='' password='' tls
		[ "$scheme" != "$url" ] || { log "BAZAAR_SMTP_URL: want smtp://user:password@host:587 or smtps://host:465"; exit 1; }
		case $scheme in
		smtp) tls=true ;;
		smtps) tls=false ;; # Alertmanager speaks TLS from the start on port 465
		*) log "BAZAAR_SMTP_URL: scheme $scheme, want smtp or smtps"; exit 1 ;;
		esac
		rest=${rest%%/*}
		rest=${rest%%\?*}
		if [[ $rest == *@* ]]; then
			userinfo=${rest%@*}
			hostport=${rest##*@}
			user=$(url_decode "${userinfo%%:*}")
			[[ $userinfo != *:* ]] || password=$(url_decode "${userinfo#*:}")
		else
			hostport=$rest
		fi
		if [[ $hostport != *:* ]]; then
			case $scheme in smtp) hostport+=:587 ;; smtps) hostport+=:465 ;; esac
		fi
		if [ "$scheme" = smtps ] && [ "${hostport##*:}" != 465 ]; then
			log "BAZAAR_SMTP_URL: Alertmanager speaks implicit TLS on port 465 only"
			exit 1
		fi
		global="global:
  smtp_smarthost: $(yaml_quote "$hostport")
  smtp_from: $(yaml_quote "$from")
  smtp_require_tls: $tls"
		if [ -n "$user" ]; then
			global+="
  smtp_auth_username: $(yaml_quote "$user")
  smtp_auth_password: $(yaml_quote "$password")"
		fi
		receiver="  - name: email
    email_configs:
      - to: $(yaml_quote "$to")
        send_resolved: true"
		log "alerts are mailed to $to through ${hostport}"
	fi
	umask 077
	cat >"$out/alertmanager.yml" <<YAML
# Written by docker-entrypoint.sh from BAZAAR_SMTP_URL; see deploy/COMPOSE.md.
$global
route:
  receiver: email
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
$receiver
inhibit_rules:
  # With the database down every replica is unready and answers 503:
  # one mail about the cause, not three.
  - source_matchers: [alertname = DatabaseUnreachable]
    target_matchers: ['alertname =~ "NoReadyReplica|HighErrorRatio"']
YAML
}

case ${1:-} in
prometheus) prometheus_config ;;
prometheus-alertmanager) alertmanager_config ;;
esac
exec "$@"
