#!/usr/bin/env bash
# Apache Kafka 4.x for the ledger: a single KRaft node on loopback, jars from Maven Central (infra/kafka/pom.xml).
#   infra/kafka.sh start|stop|status     (RCM_KAFKA_PORT, default 9092; RCM_KAFKA_DATA, default /var/tmp/rcm-kafka)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/kafka" && pwd)"
PORT="${RCM_KAFKA_PORT:-9092}"
CONTROLLER_PORT=$((PORT + 1))
DATA="${RCM_KAFKA_DATA:-/var/tmp/rcm-kafka}"
BOOTSTRAP="127.0.0.1:$PORT"
say() { echo "kafka.sh: $*" >&2; }

resolve() {
  if [ ! -f "$HERE/lib/.resolved" ] || [ "$HERE/pom.xml" -nt "$HERE/lib/.resolved" ]; then
    command -v mvn >/dev/null || { say "Maven is needed to fetch the Kafka jars (apt-get install maven)"; exit 1; }
    command -v java >/dev/null || { say "Java 17+ is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
    say "resolving Kafka jars from Maven Central"
    rm -rf "$HERE/lib"
    mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$HERE/lib" -DincludeScope=runtime >&2
    touch "$HERE/lib/.resolved"
  fi
}

kafka_java() { java -Xms256m -Xmx1g -Dkafka.logs.dir="$DATA" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
  -cp "$HERE/lib/*" "$@"; }

answering() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

running() { [ -f "$DATA/pid" ] && kill -0 "$(cat "$DATA/pid")" 2>/dev/null; }

configure() {
  mkdir -p "$DATA"
  cat > "$DATA/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA/logs
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
CONF
  if [ ! -f "$DATA/logs/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      -c "$DATA/server.properties" >/dev/null
  fi
}

start() {
  if running && answering; then echo "$BOOTSTRAP"; return; fi
  resolve
  configure
  say "starting Kafka on $BOOTSTRAP (log: $DATA/server.log)"
  nohup java -Xms256m -Xmx1g -Dkafka.logs.dir="$DATA" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$HERE/lib/*" kafka.Kafka "$DATA/server.properties" >"$DATA/server.out" 2>&1 &
  echo $! > "$DATA/pid"
  for _ in $(seq 1 120); do
    if answering; then echo "$BOOTSTRAP"; return; fi
    running || { say "Kafka exited during start-up:"; tail -n 20 "$DATA/server.out" "$DATA/server.log" >&2; exit 1; }
    sleep 0.5
  done
  say "Kafka did not answer on $BOOTSTRAP within 60 s"; exit 1
}

stop() {
  if running; then
    kill "$(cat "$DATA/pid")"
    for _ in $(seq 1 60); do running || break; sleep 0.5; done
    running && kill -9 "$(cat "$DATA/pid")"
  fi
  rm -f "$DATA/pid"
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && answering; then echo "running: $BOOTSTRAP"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: infra/kafka.sh start|stop|status" >&2; exit 2 ;;
esac
