#!/bin/bash
# Entry point of the bazaar-test-nginx image. Like the official nginx image
# (20-envsubst-on-templates.sh), it renders $NGINX_ENVSUBST_TEMPLATE_DIR
# (default /etc/nginx/templates)/*$NGINX_ENVSUBST_TEMPLATE_SUFFIX (default
# .template) into $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d),
# substituting only variables that are defined in the environment, so
# nginx's own $variables survive.
set -Eeuo pipefail

template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}

if [ -d "$template_dir" ]; then
	# shellcheck disable=SC2016 # the literal ${NAME} list envsubst wants
	defined_envs=$(printf '${%s} ' $(compgen -e))
	for template in "$template_dir"/*"$suffix"; do
		[ -f "$template" ] || continue
		output="$output_dir/$(basename "$template" "$suffix")"
		echo "$0: running envsubst on $template to $output"
		envsubst "$defined_envs" <"$template" >"$output"
	done
fi

exec "$@"
