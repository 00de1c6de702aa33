# The image that docker-compose.yml runs as web, worker, beat and the migrate step.
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

# Static files are collected at build time, in production mode (hashed, compressed names), with
# a throwaway secret: the real SECRET_KEY comes from .env at run time only.
RUN TIER2_MODE=production DEBUG=0 ALLOWED_HOSTS=build.invalid \
    SECRET_KEY=build-time-only-dummy-secret-key-never-used-to-serve \
    python manage.py collectstatic --noinput --verbosity 1

# Translations, when the project has some: gettext is needed to compile them, not to run.
RUN if [ -d locale ] && find locale -name '*.po' | grep -q .; then \
        apt-get update && apt-get install -y --no-install-recommends gettext \
        && TIER2_MODE=production DEBUG=0 ALLOWED_HOSTS=build.invalid \
           SECRET_KEY=build-time-only-dummy-secret-key-never-used-to-serve \
           python manage.py compilemessages \
        && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*; \
    fi

RUN useradd --system --uid 10001 --home-dir /app --no-create-home tier2 \
    && mkdir -p /app/var && chown tier2 /app/var
USER tier2

ENV TIER2_MODE=production
EXPOSE 8000
CMD ["gunicorn", "tier2.wsgi:application", "--bind", "0.0.0.0:8000"]
