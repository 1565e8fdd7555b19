#!/usr/bin/env bash
# `make bench`: Bazaar against its floor (bench/floor), through nginx, in one run.
#
# One throwaway PostgreSQL (bench/cluster, i.e. internal/pgcluster) holds two
# databases, each migrated and seeded by the app's own `bazaar migrate` and
# `bazaar seed`, so both targets read identical rows. The app (`bazaar
# serve`) and the floor each sit behind their own nginx rendered from
# deploy/nginx/templates/default.conf.template, so both pay the same proxy
# cost. wrk then measures GET / and POST /listings against each, in
# alternating order over BENCH_ROUNDS rounds, and the best of each is
# compared: noise on a shared machine only ever slows a run down.
#
# Beside requests/s it prints the CPU time each upstream process (app or
# floor) and its nginx spent per request (median over the rounds), read
# from /proc. On a busy machine that figure moves far less than
# throughput, so it tells whether a miss is the code or the neighbours.
#
# A run is invalid (exit 2) if wrk saw socket errors or non-2xx/3xx
# responses, if a page does not show 24 listings, or if the POSTs did not
# write as many rows as wrk counted. Missing a target prints MISS and exits
# 0 unless BENCH_STRICT=1. Raw output goes to bench/out/<time>/.
#
# Knobs: BENCH_DURATION (6s), BENCH_WARMUP (2s), BENCH_ROUNDS (4),
# BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_LISTINGS (10000),
# BENCH_DURABLE (0: fsync off, as in tests, so the disk of a shared machine
# does not drown the code being measured; 1: fsync and synchronous commit
# on, as in production), BENCH_STRICT (0).
set -Eeuo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-6s}
warmup=${BENCH_WARMUP:-2s}
rounds=${BENCH_ROUNDS:-4}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-16}
listings=${BENCH_LISTINGS:-10000}
durable=${BENCH_DURABLE:-0}
strict=${BENCH_STRICT:-0}
target_get=0.95
target_post=0.90
template=deploy/nginx/templates/default.conf.template

for tool in wrk nginx go curl; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (Debian: apt-get install -y wrk nginx curl)" >&2; exit 1; }
done
[ -f "$template" ] || { echo "bench: $template is missing" >&2; exit 1; }

out=bench/out/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
tmp=$(mktemp -d /tmp/bazaar-bench.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as the postgres user and must reach its directory
pids=()

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	# Newest first: nginx before its upstream, the database last.
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		local deadline=$((SECONDS + 15))
		while kill -0 "${pids[i]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	# Keep the ends of the logs, which is what a failed run needs (the
	# request logs of a whole run are tens of megabytes), then drop the rest.
	local f
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && tail -n 200 "$f" >"$out/$(basename "$f")"
	done
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s bench: %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "$*"; exit 2; }

# free_port prints a loopback port nobody listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# wait_for DESCRIPTION PID TIMEOUT_SECONDS COMMAND...: poll COMMAND until it
# succeeds, giving up when PID exits or the time is up.
wait_for() {
	local what=$1 pid=$2 deadline=$((SECONDS + $3))
	shift 3
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || die "$what exited while starting (logs in $out)"
		((SECONDS < deadline)) || die "$what not ready in time (logs in $out)"
		sleep 0.1 # poll interval
	done
}

log "building into $tmp"
go build -o "$tmp/bazaar" ./cmd/bazaar
go build -o "$tmp/floor" ./bench/floor
go build -o "$tmp/cluster" ./bench/cluster

log "starting PostgreSQL (durable=$durable)"
cluster_flags=()
[ "$durable" = 1 ] && cluster_flags+=(-durable)
"$tmp/cluster" -dir "$tmp/pg" "${cluster_flags[@]}" app floor >"$tmp/cluster.out" 2>"$tmp/cluster.log" &
pids+=($!)
wait_for PostgreSQL "${pids[-1]}" 60 grep -qx ready "$tmp/cluster.out"
db_app=$(awk '$1 == "url" && $2 == "app" {print $3}' "$tmp/cluster.out")
db_floor=$(awk '$1 == "url" && $2 == "floor" {print $3}' "$tmp/cluster.out")

for db in "$db_app" "$db_floor"; do
	DATABASE_URL=$db "$tmp/bazaar" migrate >>"$tmp/setup.log"
	DATABASE_URL=$db "$tmp/bazaar" seed -n "$listings" >>"$tmp/setup.log"
done
log "migrated and seeded $listings listings into each database"

app_port=$(free_port)
DATABASE_URL=$db_app BAZAAR_ADDR=127.0.0.1:$app_port BAZAAR_INSTANCE=bench \
	"$tmp/bazaar" serve >"$tmp/app.log" 2>&1 &
pids+=($!)
pid_app=$!
wait_for "bazaar serve" "${pids[-1]}" 30 curl -fsS "http://127.0.0.1:$app_port/readyz"

floor_port=$(free_port)
DATABASE_URL=$db_floor BAZAAR_ADDR=127.0.0.1:$floor_port \
	"$tmp/floor" >"$tmp/floor.log" 2>&1 &
pids+=($!)
pid_floor=$!
wait_for floor "${pids[-1]}" 30 curl -fsS "http://127.0.0.1:$floor_port/"

# start_nginx NAME UPSTREAM_PORT: an nginx like the official image's (its
# nginx.conf includes the rendered template inside http {}), with every path
# under $tmp/nginx-NAME. Prints the port it listens on and sets nginx_pid.
start_nginx() {
	local name=$1 upstream=$2 dir=$tmp/nginx-$1 port
	port=$(free_port)
	mkdir -p "$dir/conf.d"
	NGINX_PORT=$port BAZAAR_UPSTREAM=127.0.0.1:$upstream \
		envsubst '${NGINX_PORT} ${BAZAAR_UPSTREAM}' <"$template" >"$dir/conf.d/default.conf"
	cat >"$dir/nginx.conf" <<-EOF
		worker_processes auto;
		pid $dir/nginx.pid;
		error_log $dir/error.log notice;
		events { worker_connections 1024; }
		http {
		    include /etc/nginx/mime.types;
		    default_type application/octet-stream;
		    sendfile on;
		    keepalive_timeout 65;
		    client_body_temp_path $dir/client_body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    include $dir/conf.d/*.conf;
		}
	EOF
	# The template logs to /dev/stdout: that is this file.
	nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$tmp/nginx-$name-access.log" 2>"$tmp/nginx-$name.log" &
	pids+=($!)
	nginx_pid=$!
	wait_for "nginx ($name)" "${pids[-1]}" 10 curl -fsS "http://127.0.0.1:$port/"
	echo "$port"
}
# Not in a $(...) subshell: pids must reach cleanup.
start_nginx app "$app_port" >"$tmp/port"
app_url=http://127.0.0.1:$(cat "$tmp/port")
pid_nginx_app=$nginx_pid
start_nginx floor "$floor_port" >"$tmp/port"
floor_url=http://127.0.0.1:$(cat "$tmp/port")
pid_nginx_floor=$nginx_pid
log "app at $app_url, floor at $floor_url (through nginx)"

# Both pages must show the same 24 listings, or the comparison is void.
for target in app floor; do
	url=${target}_url
	curl -fsS "${!url}/" >"$out/home-$target.html"
	cards=$(grep -c 'class="card"' "$out/home-$target.html" || true)
	[ "$cards" = 24 ] || die "$target's home page shows $cards listings, want 24"
	status=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' \
		-d 'name=Check&description=&price=12.50&quantity=3' "${!url}/listings")
	[[ $status == 303\ *"/listings/"* ]] || die "$target: POST /listings answered '$status', want a 303 to /listings/{id}"
done
if ! diff <(grep -o 'href="/listings/[0-9]*"' "$out/home-app.html") \
	<(grep -o 'href="/listings/[0-9]*"' "$out/home-floor.html") >/dev/null; then
	log "note: the two home pages list different ids (the databases diverged)"
fi
log "home page: app $(wc -c <"$out/home-app.html") bytes, floor $(wc -c <"$out/home-floor.html") bytes"

# wrk_run FILE URL DURATION [wrk args...]: run wrk, keep its output, fail the
# run on socket errors or non-2xx/3xx responses.
wrk_run() {
	local file=$1 url=$2 d=$3
	shift 3
	wrk -t"$threads" -c"$conns" -d"$d" --latency "$@" "$url" >"$file" 2>&1 || die "wrk failed: $(cat "$file")"
	if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$file"; then
		die "invalid run, see $file: $(grep -e 'Non-2xx' -e 'Socket errors' "$file" | tr '\n' ' ')"
	fi
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
requests() { awk '/ requests in / {print $1}' "$1"; }
# cpu_ticks PID...: for each PID, the user+system clock ticks of it and all
# its descendants (nginx's workers; the cluster helper's postgres and its
# backends), from one pass over /proc.
cpu_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" '
		{
			pid = $1
			line = $0
			sub(/^.*\) /, "", line) # comm may hold spaces; fields restart after it
			split(line, f, " ")
			parent[pid] = f[2]
			# utime + stime, plus cutime + cstime: a backend or autovacuum
			# worker that exits hands its time to the postmaster that reaps it.
			ticks[pid] = f[12] + f[13] + f[14] + f[15]
		}
		END {
			n = split(roots, r, " ")
			for (i = 1; i <= n; i++) {
				t = 0
				for (p in ticks) {
					for (q = p; q > 1; q = parent[q]) {
						if (q == r[i]) { t += ticks[p]; break }
					}
				}
				printf "%d%s", t, (i < n ? " " : "\n")
			}
		}'
}
hz=$(getconf CLK_TCK)
us_per_req() { echo $(($1 * 1000000 / hz / $2)); } # us_per_req TICKS REQUESTS
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
rows() { "$tmp/cluster" count "$1" "$2" || die "cannot count $2"; }
pid_pg=${pids[0]}

log "warming up ($warmup per request and target)"
for target in app floor; do
	url=${target}_url
	wrk_run "$out/warmup-$target-get.txt" "${!url}/" "$warmup"
	wrk_run "$out/warmup-$target-post.txt" "${!url}/listings" "$warmup" -s bench/post.lua
done

# Keys are target-kind (app-get, floor-post, ...); values are space-separated
# samples, one per round.
declare -A rate cpu_up cpu_nginx cpu_pg
declare -A paired # [kind]: app/floor req/s ratio of each round
for ((round = 1; round <= rounds; round++)); do
	order=(app floor)
	((round % 2 == 0)) && order=(floor app)
	for kind in get post; do
		for target in "${order[@]}"; do
			url=${target}_url
			db=db_$target
			pid_up=pid_$target
			pid_ng=pid_nginx_$target
			file=$out/round$round-$target-$kind.txt
			[ "$kind" = post ] && before=$(rows "${!db}" listings)
			read -r up0 ng0 pg0 < <(cpu_ticks "${!pid_up}" "${!pid_ng}" "$pid_pg")
			if [ "$kind" = get ]; then
				wrk_run "$file" "${!url}/" "$duration"
			else
				wrk_run "$file" "${!url}/listings" "$duration" -s bench/post.lua
			fi
			read -r up1 ng1 pg1 < <(cpu_ticks "${!pid_up}" "${!pid_ng}" "$pid_pg")
			sent=$(requests "$file")
			if [ "$kind" = post ]; then
				after=$(rows "${!db}" listings)
				# Requests still in flight when wrk stops may land too.
				((after - before >= sent && after - before <= sent + conns)) ||
					die "$target: wrk counted $sent POSTs but $((after - before)) rows were written"
				echo "rows written: $((after - before))" >>"$file"
			fi
			r=$(rps "$file")
			u=$(us_per_req $((up1 - up0)) "$sent") n=$(us_per_req $((ng1 - ng0)) "$sent") g=$(us_per_req $((pg1 - pg0)) "$sent")
			rate[$target-$kind]+="$r "
			cpu_up[$target-$kind]+="$u "
			cpu_nginx[$target-$kind]+="$n "
			cpu_pg[$target-$kind]+="$g "
			eval "last_$target=$r"
			echo "cpu us/request: $target $u, nginx $n, postgres $g" >>"$file"
			log "round $round: $(printf '%-5s %-4s %8s req/s   CPU us/request: %-5s %4s  nginx %4s  postgres %4s' "$target" "$kind" "$r" "$target" "$u" "$n" "$g")"
		done
		paired[$kind]+="$(awk -v a="$last_app" -v f="$last_floor" 'BEGIN {printf "%.3f", a / f}') "
	done
done

# The verdict is the median of the rounds' paired ratios: app and floor
# measured back to back share the machine's weather, and the median ignores
# a round a neighbour spoiled. Best-of and the CPU model are shown beside it.
ratio() { awk -v a="$1" -v f="$2" 'BEGIN {printf "%.3f", a / f}'; }
missed=0
{
	echo "Bazaar vs floor through nginx: wrk -t$threads -c$conns -d$duration, $rounds rounds in alternating order"
	echo "$(date -u +%FT%TZ)  $(git rev-parse --short HEAD 2>/dev/null)  $(go env GOVERSION)  $(nproc) CPUs  load $(cut -d' ' -f1-3 /proc/loadavg)  durable=$durable  listings=$listings"
	echo
	printf '%-16s %-6s %9s %9s   %-40s %s\n' request target 'req/s' 'best' 'samples' 'CPU us/req (median): upstream nginx postgres = total'
	for kind in get post; do
		name='GET /'
		[ "$kind" = post ] && name='POST /listings'
		for target in app floor; do
			k=$target-$kind
			u=$(median "${cpu_up[$k]}") n=$(median "${cpu_nginx[$k]}") g=$(median "${cpu_pg[$k]}")
			eval "total_$target=$(awk -v u="$u" -v n="$n" -v g="$g" 'BEGIN {print u + n + g}')"
			total=total_$target
			printf '%-16s %-6s %9.0f %9.0f   %-40s %9s %5s %8s   %5s\n' "$name" "$target" "$(median "${rate[$k]}")" "$(best "${rate[$k]}")" \
				"$(echo ${rate[$k]} | tr ' ' '/')" "$u" "$n" "$g" "${!total}"
		done
	done
	echo
	for kind in get post; do
		name='GET /' target=$target_get
		[ "$kind" = post ] && name='POST /listings' target=$target_post
		m=$(median "${paired[$kind]}")
		verdict=$(awk -v r="$m" -v t="$target" 'BEGIN {print (r >= t ? "PASS" : "MISS")}')
		[ "$verdict" = PASS ] || missed=1
		cpu=$(awk -v au="$(median "${cpu_up[app-$kind]}")" -v an="$(median "${cpu_nginx[app-$kind]}")" -v ag="$(median "${cpu_pg[app-$kind]}")" \
			-v fu="$(median "${cpu_up[floor-$kind]}")" -v fn="$(median "${cpu_nginx[floor-$kind]}")" -v fg="$(median "${cpu_pg[floor-$kind]}")" \
			'BEGIN {printf "%.3f", (fu + fn + fg) / (au + an + ag)}')
		printf '%-15s app/floor %.3f (target %.2f) %s   rounds %s  best-of %s  CPU model %s\n' "$name" "$m" "$target" "$verdict" \
			"$(echo ${paired[$kind]} | tr ' ' '/')" "$(ratio "$(best "${rate[app-$kind]}")" "$(best "${rate[floor-$kind]}")")" "$cpu"
		# Say so when the rounds scatter or the CPU model disagrees: on a
		# busy machine one verdict is then not worth much.
		tr ' ' '\n' <<<"${paired[$kind]}" | grep . | sort -g | awk -v m="$m" -v cpu="$cpu" -v t="$target" -v v="$verdict" '
			NR == 1 {lo = $1} {hi = $1}
			END {
				if ((hi - lo) / m > 0.15) printf "                (noisy: the rounds span %.0f%% of the median; rerun on a quieter machine)\n", 100 * (hi - lo) / m
				if ((cpu >= t) != (v == "PASS")) printf "                (the CPU model says %s)\n", (cpu >= t ? "PASS" : "MISS")
			}'
	done
	echo
	echo "req/s: median of the rounds (best beside it). app/floor: median of each round's back-to-back ratio."
	echo "CPU model: floor's CPU time per request over the app's (upstream + nginx + postgres), the ratio to expect when CPU-bound."
} >"$out/summary.txt" # not a pipe: missed must survive the block
cat "$out/summary.txt"
log "raw output in $out"
if [ "$missed" = 1 ] && [ "$strict" = 1 ]; then
	exit 1
fi
