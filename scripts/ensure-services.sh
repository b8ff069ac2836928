#!/usr/bin/env bash
# Start PostgreSQL, Redis and RabbitMQ on this machine when they are down.
# Bounded waits: gives up with a clear message after ~60 s per service.
set -u

wait_for() { # name, command
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $name did not come up within 60 s" >&2
  return 1
}

rc=0
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "ensure-services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432 || rc=1
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "ensure-services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  wait_for Redis bash -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG' || rc=1
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "ensure-services: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_for RabbitMQ bash -c '(exec 3<>/dev/tcp/127.0.0.1/5672)' || rc=1
fi
# CLI nodes of rabbitmqctl calls killed half-way (older than any live call)
# hold the few CLI distribution ports; once all are taken no rabbitmqctl starts.
kill_stale_cli() {
  pkill -9 --older 120 -u rabbitmq -f 'escript main rabbitmqctl_escript' 2>/dev/null || true
}

# A broker can accept connections yet no longer administer vhosts (the tests
# make one per test): try one, and restart a broker that does not answer.
vhost_admin_works() {
  local probe="tt-probe-$$"
  timeout -k 5 60 rabbitmqctl -q add_vhost "$probe" >/dev/null 2>&1 &&
    timeout -k 5 60 rabbitmqctl -q delete_vhost "$probe" >/dev/null 2>&1
}

# A broker can also take TCP connections yet never answer the AMQP header (its
# connection processes wedged): every client then times out.
amqp_answers() {
  timeout -k 5 15 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672; printf "AMQP\x00\x00\x09\x01" >&3;
    head -c 1 <&3 | od -An -tx1 | grep -q 01' 2>/dev/null
}

restart_rabbitmq() {
  echo "ensure-services: RabbitMQ does not administer vhosts or answer AMQP; restarting it" >&2
  timeout -k 5 60 rabbitmqctl -q stop >/dev/null 2>&1 || true
  kill_stale_cli
  pkill -9 -u rabbitmq -f 'beam.smp.*-s rabbit boot' 2>/dev/null || true
  for _ in $(seq 1 30); do
    (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || break
    sleep 1
  done
  rabbitmq-server -detached || true
  wait_for RabbitMQ bash -c '(exec 3<>/dev/tcp/127.0.0.1/5672)' || return 1
  wait_for "RabbitMQ (app)" rabbitmqctl -q await_startup
}

# The broker accepts TCP before its apps are up; wait until it answers.
if command -v rabbitmqctl >/dev/null 2>&1; then
  kill_stale_cli
  wait_for "RabbitMQ (app)" timeout -k 5 30 rabbitmqctl -q await_startup || rc=1
  if ! { amqp_answers && vhost_admin_works; }; then
    kill_stale_cli
    if ! { restart_rabbitmq && amqp_answers && vhost_admin_works; }; then
      echo "ensure-services: RabbitMQ still cannot create a vhost or answer AMQP" >&2
      rc=1
    fi
  fi
fi
exit $rc
