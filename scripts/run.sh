#!/usr/bin/env bash
# `make run`: a local Redis, a mail sink, migrations, demo data, an RQ worker and the web app.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app:create_app
PORT="${PORT:-5000}"
REDIS_PORT="${REDIS_PORT:-6379}"
MAIL_PORT="${MAIL_PORT:-8025}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT}/0}"
export MAIL_SERVER="${MAIL_SERVER:-127.0.0.1}" MAIL_PORT
# the demo's mail sink is on this machine: the mail settings in the admin may point at it
export MAIL_ALLOW_LOCAL_HOSTS="${MAIL_ALLOW_LOCAL_HOSTS:-1}"
export MAIL_DEFAULT_SENDER="${MAIL_DEFAULT_SENDER:-MSP Billing <billing@msp.demo.example>}"
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT}}"
mkdir -p instance/redis instance/maildir
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$PWD/instance/redis" \
    --save 60 1 --appendonly no --daemonize no >instance/redis.log 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
.venv/bin/python -m aiosmtpd -n -l "127.0.0.1:${MAIL_PORT}" \
  -c aiosmtpd.handlers.Mailbox "$PWD/instance/maildir" >instance/mail.log 2>&1 &
pids+=($!)

.venv/bin/flask db upgrade
seed_output=$(.venv/bin/flask seed demo)
.venv/bin/flask worker >instance/worker.log 2>&1 &
pids+=($!)
.venv/bin/flask scheduler >instance/scheduler.log 2>&1 &
pids+=($!)

cat <<MSG

  MSP Billing is running at http://127.0.0.1:${PORT}/admin/
  Mail sink: every e-mail lands in instance/maildir (SMTP 127.0.0.1:${MAIL_PORT})
  Worker log: instance/worker.log (periodic jobs: instance/scheduler.log)

${seed_output}

  Stop with Ctrl+C.
MSG
.venv/bin/flask run --host 127.0.0.1 --port "$PORT"
