# The image that docker-compose.yml runs as web, asgi, worker, beat and the migrate step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time, in production mode (hashed, compressed names). The
# production settings demand a secret, hosts and the service URLs, so this step (and the next)
# gets throwaway values: set for that RUN only (not ENV: the image never carries them), under
# the reserved .invalid domain that never resolves. collectstatic and compilemessages connect
# to nothing. The real values come from .env at run time. The settings keep no build-time
# bypass that a runtime .env could switch on by mistake.
RUN TIER2_MODE=production DEBUG=0 ALLOWED_HOSTS=build.invalid \
    SECRET_KEY=build-time-only-dummy-secret-key-never-used-to-serve \
    DATABASE_URL=postgres://build:build@db.build.invalid:5432/build \
    REDIS_URL=redis://redis.build.invalid:6379/0 \
    python manage.py collectstatic --noinput --verbosity 1

# Translations, when the project has some: gettext is needed to compile them, not to run.
RUN if [ -d locale ] && find locale -name '*.po' | grep -q .; then \
        apt-get update && apt-get install -y --no-install-recommends gettext \
        && TIER2_MODE=production DEBUG=0 ALLOWED_HOSTS=build.invalid \
           SECRET_KEY=build-time-only-dummy-secret-key-never-used-to-serve \
           DATABASE_URL=postgres://build:build@db.build.invalid:5432/build \
           REDIS_URL=redis://redis.build.invalid:6379/0 \
           python manage.py compilemessages \
        && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*; \
    fi

RUN useradd --system --uid 10001 --home-dir /app --no-create-home tier2 \
    && mkdir -p /app/var && chown -R tier2 /app/var
USER tier2

ENV TIER2_MODE=production
EXPOSE 8000
CMD ["gunicorn", "tier2.wsgi:application", "--bind", "0.0.0.0:8000"]
