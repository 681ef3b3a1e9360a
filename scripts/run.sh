#!/usr/bin/env bash
# `make run`: a local Redis, a mail sink, a local Stripe, migrations, demo data, an RQ worker, the
# scheduler and the web app. Everything listens on 127.0.0.1 only; every process started here is
# stopped by its process id when the script ends (Ctrl+C, or a TERM to this script).
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app:create_app
PORT="${PORT:-5000}"
REDIS_PORT="${REDIS_PORT:-6379}"
MAIL_PORT="${MAIL_PORT:-8025}"
STRIPE_PORT="${STRIPE_PORT:-8420}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT}/0}"
export MAIL_SERVER="${MAIL_SERVER:-127.0.0.1}" MAIL_PORT
# the demo's mail sink is on this machine: the mail settings in the admin may point at it
export MAIL_ALLOW_LOCAL_HOSTS="${MAIL_ALLOW_LOCAL_HOSTS:-1}"
export MAIL_DEFAULT_SENDER="${MAIL_DEFAULT_SENDER:-MSP Billing <billing@msp.demo.example>}"
export MAIL_SINK_MAILDIR="$PWD/instance/maildir"
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT}}"
# The local Stripe (localstripe) takes any key of the right form: these demo keys are published
# and work nowhere else. The product checks them on save exactly like real keys.
export STRIPE_API_BASE="http://127.0.0.1:${STRIPE_PORT}"
DEMO_STRIPE_SECRET_KEY="sk_test_msp_demo_local"
DEMO_STRIPE_PUBLISHABLE_KEY="pk_test_msp_demo_local"
DEMO_STRIPE_WEBHOOK_SECRET="whsec_msp_demo_local"
mkdir -p instance/redis

services=() # Redis (when started here), the mail sink, the local Stripe
apps=()     # the worker, the scheduler and the web app
alive() {
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
# stop PID...: TERM them, wait up to 10 s for them to end, then KILL what is left
stop() {
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 100); do alive "$@" || return 0; sleep 0.1; done
  kill -KILL "$@" 2>/dev/null || true
}
stop_all() {
  trap - EXIT INT TERM
  # the apps first, while Redis still answers them
  stop "${apps[@]}"
  stop "${services[@]}"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for NAME PID PORT LOG: until the process listens on 127.0.0.1:PORT; stop if it died
wait_for() {
  for _ in $(seq 100); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "The $1 did not start (is port $3 taken? see $4):" >&2
      tail -n 5 "$4" >&2
      exit 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "The $1 does not answer on 127.0.0.1:$3 (see $4)." >&2
  exit 1
}

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$PWD/instance/redis" \
    --save 60 1 --appendonly no --daemonize no >instance/redis.log 2>&1 &
  services+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
.venv/bin/python scripts/mail_sink.py "$MAIL_SINK_MAILDIR" "$MAIL_PORT" >instance/mail.log 2>&1 &
services+=($!)
wait_for "mail sink" "$!" "$MAIL_PORT" instance/mail.log
.venv/bin/python scripts/localstripe_loopback.py "$STRIPE_PORT" \
  --data instance/localstripe.pickle \
  --webhook "http://127.0.0.1:${PORT}/stripe/webhook" \
  --webhook-secret "$DEMO_STRIPE_WEBHOOK_SECRET" >instance/localstripe.log 2>&1 &
services+=($!)
wait_for "local Stripe" "$!" "$STRIPE_PORT" instance/localstripe.log

.venv/bin/flask db upgrade
if ! seed_output=$(.venv/bin/flask seed demo \
  --stripe-secret-key "$DEMO_STRIPE_SECRET_KEY" \
  --stripe-publishable-key "$DEMO_STRIPE_PUBLISHABLE_KEY" \
  --stripe-webhook-secret "$DEMO_STRIPE_WEBHOOK_SECRET" \
  --send-mail 2>instance/seed.log); then
  echo "The demo data could not be created (see instance/seed.log):" >&2
  tail -n 20 instance/seed.log >&2
  exit 1
fi
.venv/bin/flask worker >instance/worker.log 2>&1 &
apps+=($!)
.venv/bin/flask scheduler >instance/scheduler.log 2>&1 &
apps+=($!)

cat <<MSG

  MSP Billing is running at http://127.0.0.1:${PORT}/admin/

  E-mails stay on this machine: read them in the admin under Settings -> Demo mailbox
    (http://127.0.0.1:${PORT}/admin/mail-sink/, as admin); files in instance/maildir,
    SMTP sink on 127.0.0.1:${MAIL_PORT}. The invoices of the month that just ended are
    there already: the worker e-mailed them.
  Card payments go to a local Stripe on 127.0.0.1:${STRIPE_PORT} (signed webhooks included).
    Test cards (any future expiry, any CVC): 4242 4242 4242 4242 is accepted;
    4000 0025 0000 3155 asks for 3-D Secure when saved, then is charged at month end;
    4000 0027 6000 3184 asks for 3-D Secure for every payment (month end fails);
    4000 0000 0000 0341 is saved but declined when charged; 4000 0000 0000 0002 is declined.
  Worker log: instance/worker.log (periodic jobs: instance/scheduler.log)

${seed_output}

  Stop with Ctrl+C.
MSG
.venv/bin/flask run --host 127.0.0.1 --port "$PORT" &
apps+=($!)
wait "$!"
