# The bot image used by docker-compose.yml (migrate and bot services).
FROM python:3.10-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY content ./content
COPY flows ./flows
COPY locales ./locales
COPY babel.cfg ./
RUN pip install --no-cache-dir -c constraints.txt . \
    && kyr i18n compile && kyr train
ENV KYR_HOME=/app TF_CPP_MIN_LOG_LEVEL=3 RASA_TELEMETRY_ENABLED=false
USER nobody
CMD ["kyr", "serve", "--host", "0.0.0.0"]
