#!/usr/bin/env bash
# The container image's steps. The Dockerfile runs `build` and `install`; CI, which has no Docker
# engine, runs the same steps for real with `check`.
#
#   scripts/image.sh build OUT        build stage: npm ci (dev dependencies, tsc), then pack
#   scripts/image.sh pack OUT         pack this checkout (installed already) into OUT: tessera.tgz
#                                     (package.json "files": bin/, dist/, the start scripts),
#                                     package-lock.json, prebuilds/ (the SQLite addon, compiled once)
#   scripts/image.sh install OUT APP  runtime stage: unpack into APP, npm ci --omit=dev, check it
#   scripts/image.sh check            CI: pack, install into a temporary folder, serve as the image
#                                     does (TLS on 0.0.0.0), wait for /healthz, stop; then npm start
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { echo "image: $*" >&2; }
die() { say "$*"; exit 1; }

# The file name prebuild-install (better-sqlite3's installer) looks for in a local prebuilds folder.
prebuild_name() {
  node -e '
    const v = require(process.argv[1]).version;
    const musl = process.platform === "linux" && !process.report.getReport().header.glibcVersionRuntime;
    const platform = process.platform + (musl ? "musl" : "");
    console.log(`better-sqlite3-v${v}-node-v${process.versions.modules}-${platform}-${process.arch}.tar.gz`);
  ' "$1/node_modules/better-sqlite3/package.json"
}

pack() {
  local out=$1
  mkdir -p "$out/prebuilds"
  (cd "$ROOT" && node scripts/build.mjs --if-stale)
  # --ignore-scripts: dist/ is built just above; prepare would compile it a second time.
  (cd "$ROOT" && npm pack --ignore-scripts --silent --pack-destination "$out" >/dev/null)
  mv "$out"/tessera-*.tgz "$out/tessera.tgz"
  cp "$ROOT/package-lock.json" "$out/package-lock.json"
  # The addon that npm ci compiled (or downloaded) here, in the form better-sqlite3's installer
  # takes first: the production install reuses it instead of compiling SQLite again (minutes).
  tar -czf "$out/prebuilds/$(prebuild_name "$ROOT")" -C "$ROOT/node_modules/better-sqlite3" \
    build/Release/better_sqlite3.node
  say "packed $(du -h "$out/tessera.tgz" | cut -f1) into $out"
}

build() {
  (cd "$ROOT" && npm ci --no-audit --no-fund)
  pack "$1"
}

install() {
  local out=$1 app=$2
  mkdir -p "$app"
  tar -xzf "$out/tessera.tgz" -C "$app" --strip-components=1
  cp "$out/package-lock.json" "$app/package-lock.json"
  (cd "$app" && npm_config_better_sqlite3_local_prebuilds="$out/prebuilds" \
    npm ci --omit=dev --no-audit --no-fund)
  # What a production install must not hold: compilers of ours, test and lint tools, sources.
  local dev
  for dev in typescript vitest @biomejs/biome @bufbuild/buf @cerbos/cerbos-linux-x64 @bufbuild/protoc-gen-es; do
    [[ ! -e "$app/node_modules/$dev" ]] || die "the production install holds the dev dependency $dev"
  done
  [[ ! -e "$app/src" && ! -e "$app/test" ]] || die "the packed tree holds sources or tests"
  (cd "$app" && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()")
  say "installed for production into $app: node_modules $(du -sh "$app/node_modules" | cut -f1)"
}

# Waits until the healthcheck passes (env as the server's), or the server exits, or 60 s pass.
wait_healthy() {
  local pid=$1 app=$2
  shift 2
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || die "the server exited before it was healthy"
    if env "$@" node "$app/scripts/healthcheck.mjs" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  die "the server was not healthy within 60 s"
}

# Stops a server with SIGTERM, as `docker stop` does, and wants a clean exit.
stop_server() {
  local pid=$1 code=0
  kill -TERM "$pid"
  wait "$pid" || code=$?
  [[ $code -eq 0 ]] || die "the server exited $code on SIGTERM"
}

check() {
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  pack "$tmp/out"
  install "$tmp/out" "$tmp/app"
  local app="$tmp/app" grpc http health
  read -r grpc http health < <(node -e '
    const net = require("node:net");
    const free = () => new Promise((ok) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
    Promise.all([free(), free(), free()]).then((p) => console.log(p.join(" ")));')
  (cd "$app" && node bin/tessera.js certs dev --out "$tmp/tls" >/dev/null)

  # As the image runs it (Dockerfile ENV, ENTRYPOINT and CMD), on free ports, in a clean env.
  local -a image_env=(TESSERA_HOST=0.0.0.0 TESSERA_DATA_DIR="$tmp/data" TESSERA_GRPC_PORT="$grpc"
    TESSERA_HTTP_PORT="$http" TESSERA_HEALTH_PORT="$health" TESSERA_TLS_CERT="$tmp/tls/server.pem" TESSERA_TLS_KEY="$tmp/tls/server-key.pem")
  env -i PATH="$PATH" HOME="$HOME" "${image_env[@]}" node "$app/scripts/container.mjs" serve \
    >"$tmp/serve.log" 2>&1 &
  local pid=$!
  wait_healthy "$pid" "$app" "${image_env[@]}" || { cat "$tmp/serve.log" >&2; exit 1; }
  [[ -n "$(ls -A "$tmp/data")" ]] || die "nothing was written to the data directory"
  stop_server "$pid"
  say "served TLS on 0.0.0.0 from the production install: the health port's /livez answered, SIGTERM stopped it"

  # A missing TLS mount is refused with advice (exit 2), before anything is written.
  local code=0
  env -i PATH="$PATH" HOME="$HOME" TESSERA_HOST=0.0.0.0 TESSERA_DATA_DIR="$tmp/empty" \
    TESSERA_TLS_CERT=/nonexistent/server.pem TESSERA_TLS_KEY=/nonexistent/server-key.pem \
    node "$app/scripts/container.mjs" serve 2>/dev/null || code=$?
  [[ $code -eq 2 && ! -e "$tmp/empty" ]] || die "a missing TLS file should exit 2 and write nothing (got $code)"

  # npm start in the production install: no TypeScript there, so it runs the packed dist/.
  # npm does not pass SIGTERM on to its script, so the whole process group (setsid) gets it,
  # as a terminal's Ctrl-C would.
  local -a dev_env=(TESSERA_DATA_DIR="$tmp/data2" TESSERA_GRPC_PORT="$grpc" TESSERA_HTTP_PORT="$http" TESSERA_WORKERS=1)
  (cd "$app" && exec env -i PATH="$PATH" HOME="$HOME" "${dev_env[@]}" setsid npm start) >"$tmp/start.log" 2>&1 &
  pid=$!
  wait_healthy "$pid" "$app" "${dev_env[@]}" || { cat "$tmp/start.log" >&2; exit 1; }
  kill -TERM -- "-$pid"
  for _ in $(seq 1 60); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.25; done
  ! kill -0 -- "-$pid" 2>/dev/null || die "npm start did not stop on SIGTERM"
  say "npm start ran the packed dist/ without TypeScript: /healthz answered"
}

case "${1:-}" in
  build) build "${2:?OUT}" ;;
  pack) pack "${2:?OUT}" ;;
  install) install "${2:?OUT}" "${3:?APP}" ;;
  check) check ;;
  *) die "usage: scripts/image.sh build OUT | pack OUT | install OUT APP | check" ;;
esac
