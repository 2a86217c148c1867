"""The peer's own logging: hclog-compatible JSON lines on stderr (stdout is reserved)."""
from __future__ import annotations

import datetime as _dt
import json
import logging
import sys

_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}


class HclogJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc)
        line = {
            "@level": _LEVELS.get(record.levelname, "info"),
            "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if not k.startswith("@")})
        return json.dumps(line, ensure_ascii=False, default=str)


def setup(name: str) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HclogJson())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
