#!/usr/bin/env bash
# The local stack: a real OpenSearch node with the k-NN plugin (from Maven Central) and
# moto in server mode (S3, DynamoDB, SageMaker API), both on 127.0.0.1 only.
#   services.sh up | down | status | fetch
# Every process is tracked by its PID file under .local/run and stopped by PID.
set -euo pipefail
source "$(dirname "$0")/env.sh"

RUN="$CS_LOCAL/run"; LOGS="$CS_LOCAL/logs"
mkdir -p "$RUN" "$LOGS"

# OpenSearch lives in .local/opensearch, owned by the unprivileged service user. When that user
# cannot reach the checkout (a clone under /root, say), it lives in /var/tmp instead and
# .local/opensearch links to it, so its logs are still found in the usual place.
OS_BASE="$CS_LOCAL/opensearch"
if [ "$(id -u)" -eq 0 ]; then
  id "$OPENSEARCH_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OPENSEARCH_USER"
  if ! runuser -u "$OPENSEARCH_USER" -- test -x "$CS_LOCAL"; then
    OS_BASE="/var/tmp/catalog-search-opensearch-$(printf %s "$CS_ROOT" | cksum | cut -d' ' -f1)"
    mkdir -p "$OS_BASE"
    [ -L "$CS_LOCAL/opensearch" ] || { rm -rf "$CS_LOCAL/opensearch"; ln -s "$OS_BASE" "$CS_LOCAL/opensearch"; }
  fi
fi
OS_HOME="$OS_BASE/opensearch-$OPENSEARCH_VERSION"
OS_DATA="$OS_BASE/data"

java17_home() {
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/openjdk-17 "${JAVA_HOME:-}"; do
    [ -x "$d/bin/java" ] && { echo "$d"; return; }
  done
  dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

fetch_opensearch() {
  [ -x "$OS_HOME/bin/opensearch" ] && [ -d "$OS_HOME/plugins/opensearch-knn" ] && return 0
  local dl="$OS_BASE/dist"
  mkdir -p "$dl"
  echo "fetching OpenSearch $OPENSEARCH_VERSION and k-NN $OPENSEARCH_KNN_VERSION from Maven Central"
  for a in "org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
           "org.opensearch.plugin:opensearch-knn:$OPENSEARCH_KNN_VERSION:zip"; do
    mvn -q -B -f "$CS_ROOT/scripts/maven-fetch.pom.xml" dependency:copy -Dartifact="$a" \
      -DoutputDirectory="$dl" -Dmaven.repo.local="$CS_LOCAL/m2" >"$LOGS/maven.log" 2>&1 \
      || { echo "maven could not fetch $a (see $LOGS/maven.log)" >&2; return 1; }
  done
  rm -rf "$OS_HOME" "$dl/lang-painless"
  (cd "$OS_BASE" && unzip -q "$dl/opensearch-$OPENSEARCH_VERSION.zip")
  install_painless_module "$dl/lang-painless"
  OPENSEARCH_JAVA_HOME="$(java17_home)" "$OS_HOME/bin/opensearch-plugin" install --batch \
    "file://$dl/opensearch-knn-$OPENSEARCH_KNN_VERSION.zip" >"$LOGS/opensearch-plugin.log" 2>&1 \
    || { echo "k-NN plugin install failed (see $LOGS/opensearch-plugin.log)" >&2; return 1; }
}

install_painless_module() {  # dir: lay the lang-painless module out as a full distribution has it
  mvn -q -B -f "$CS_ROOT/scripts/maven-painless.pom.xml" dependency:copy-dependencies \
    -Dopensearch.version="$OPENSEARCH_VERSION" -DincludeScope=runtime -DoutputDirectory="$1" \
    -DincludeArtifactIds=lang-painless,opensearch-scripting-painless-spi,antlr4-runtime,asm,asm-util,asm-tree,asm-commons,asm-analysis \
    -Dmaven.repo.local="$CS_LOCAL/m2" >"$LOGS/maven.log" 2>&1 \
    || { echo "maven could not fetch lang-painless $OPENSEARCH_VERSION (see $LOGS/maven.log)" >&2; return 1; }
  local module="$OS_HOME/modules/lang-painless"
  mkdir -p "$module"
  cp "$1"/*.jar "$module/"
  cat >"$module/plugin-descriptor.properties" <<PROPS
description=An easy, safe and fast scripting language for OpenSearch
version=$OPENSEARCH_VERSION
name=lang-painless
classname=org.opensearch.painless.PainlessPlugin
java.version=11
opensearch.version=$OPENSEARCH_VERSION
extended.plugins=
has.native.controller=false
PROPS
  cat >"$module/plugin-security.policy" <<'POLICY'
grant {
  // Painless compiles scripts into classes of its own loader.
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
POLICY
}

ensure_service_user() {
  [ "$(id -u)" -ne 0 ] && return 0
  chown -R "$OPENSEARCH_USER" "$OS_BASE"
  # The node must be able to reach its folder through every parent.
  if ! runuser -u "$OPENSEARCH_USER" -- test -x "$OS_HOME/bin"; then
    echo "user $OPENSEARCH_USER cannot reach $OS_HOME: make its parent folders traversable (chmod o+x)" >&2
    return 1
  fi
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_http() {  # name url seconds
  local i
  for ((i = 0; i < $3; i++)); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    alive "$1" || { echo "$1 exited during start-up; last log lines:" >&2; tail -20 "$LOGS/$1.log" >&2; return 1; }
    sleep 1
  done
  echo "$1 did not answer at $2 within $3 s (see $LOGS/$1.log)" >&2
  return 1
}

start_opensearch() {
  alive opensearch && return 0
  fetch_opensearch
  mkdir -p "$OS_DATA" "$OS_BASE/logs"
  cat >"$OS_HOME/config/opensearch.yml" <<YML
cluster.name: catalog-search-local
node.name: local-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: $OPENSEARCH_PORT
path.data: $OS_DATA
path.logs: $OS_BASE/logs
YML
  ensure_service_user
  local as_user=()
  [ "$(id -u)" -eq 0 ] && as_user=(runuser -u "$OPENSEARCH_USER" --)
  env OPENSEARCH_JAVA_HOME="$(java17_home)" OPENSEARCH_JAVA_OPTS="-Xms$OPENSEARCH_HEAP -Xmx$OPENSEARCH_HEAP" \
    "${as_user[@]}" "$OS_HOME/bin/opensearch" >"$LOGS/opensearch.log" 2>&1 &
  echo $! >"$RUN/opensearch.pid"
  wait_http opensearch "http://127.0.0.1:$OPENSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" 180
}

start_moto() {
  alive moto && return 0
  # moto_server's app under gunicorn, which keeps connections open (scripts/moto_wsgi.py).
  "$CS_VENV/bin/gunicorn" -c "$CS_ROOT/scripts/moto_gunicorn.conf.py" -b "127.0.0.1:$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
  echo $! >"$RUN/moto.pid"
  wait_http moto "http://127.0.0.1:$MOTO_PORT/moto-api/" 60
}

stop_one() {  # name: SIGTERM by PID (with its process group children), then SIGKILL
  local name=$1 pid i
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    local kids; kids=$(pgrep -P "$pid" || true)
    kill "$pid" $kids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" $kids 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
  echo "stopped $name"
}

status() {
  local rc=0
  if alive opensearch && curl -fsS "http://127.0.0.1:$OPENSEARCH_PORT/_cluster/health" 2>/dev/null; then
    echo; echo "opensearch: up on 127.0.0.1:$OPENSEARCH_PORT (pid $(cat "$RUN/opensearch.pid"))"
  else echo "opensearch: down"; rc=1; fi
  if alive moto && curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null; then
    echo "moto: up on 127.0.0.1:$MOTO_PORT (pid $(cat "$RUN/moto.pid"))"
  else echo "moto: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  fetch) fetch_opensearch ;;
  up) start_moto; start_opensearch; status ;;
  down) stop_one opensearch; stop_one moto ;;
  status) status ;;
  *) echo "usage: $0 up|down|status|fetch" >&2; exit 2 ;;
esac
