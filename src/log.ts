import { pino } from "pino";

/** Structured JSON logs. Fields that could hold a secret are redacted wherever they appear. */
export function createLogger(level = "info") {
  return pino({
    level,
    base: { service: "tessera" },
    redact: {
      paths: [
        "apiKey",
        "adminToken",
        "token",
        "secret",
        "password",
        "*.apiKey",
        "*.adminToken",
        "*.token",
        "*.secret",
        "*.password",
        "headers['x-api-key']",
        "headers['x-admin-token']",
        "headers.authorization",
      ],
      censor: "[redacted]",
    },
  });
}

export type Logger = ReturnType<typeof createLogger>;
