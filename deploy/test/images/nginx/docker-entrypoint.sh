#!/bin/bash
# Entry point of the bazaar-test-nginx image. Like the official nginx image
# (20-envsubst-on-templates.sh), it renders /etc/nginx/templates/*.template
# into /etc/nginx/conf.d/ substituting only variables that are defined in the
# environment, so nginx's own $variables survive.
set -Eeuo pipefail

template_dir=/etc/nginx/templates
output_dir=/etc/nginx/conf.d

if [ -d "$template_dir" ]; then
	defined_envs=$(printf '${%s} ' $(compgen -e))
	for template in "$template_dir"/*.template; do
		[ -f "$template" ] || continue
		output="$output_dir/$(basename "$template" .template)"
		echo "$0: running envsubst on $template to $output"
		envsubst "$defined_envs" <"$template" >"$output"
	done
fi

exec "$@"
