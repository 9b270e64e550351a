FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir -e .
COPY . .
RUN DJANGO_SECRET_KEY=build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(64))') \
    REDIS_URL=redis://build-only:6379/0 python manage.py collectstatic --noinput
RUN useradd --create-home rubric && mkdir -p /app/var/media && chown -R rubric /app/var
USER rubric
EXPOSE 8000
# Workers, threads, keep-alive, worker class: config/gunicorn.conf.py (WEB_CONCURRENCY,
# GUNICORN_THREADS, GUNICORN_KEEPALIVE, GUNICORN_WORKER_CLASS override).
ENV HOST=0.0.0.0 PORT=8000
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.conf.py"]
