// Rate limits for the suite's servers: far above what any test sends, so files that make many
// requests with one key, or sign up many workspaces from 127.0.0.1, are not throttled. Every app a
// test starts reads them (vitest.config.ts puts them in the workers' environment; global-setup.ts
// gives them to the shared server); tests/rate-limits.test.ts starts apps with limits of its own,
// and the defaults, on addresses of its own.
export const generousLimits: Record<string, string> = {
  RATE_LIMIT_KEY_FREE: "1000000/1m",
  RATE_LIMIT_KEY_PRO: "1000000/1m",
  RATE_LIMIT_KEY_ULTRA: "1000000/1m",
  RATE_LIMIT_SIGNUP_IP: "1000000/1h",
  RATE_LIMIT_SIGNUP_DOMAIN: "1000000/1h",
  RATE_LIMIT_QUIZ_IP: "1000000/1m",
  RATE_LIMIT_QUIZ: "1000000/1m",
  RATE_LIMIT_INBOUND_IP: "1000000/1m",
  RATE_LIMIT_PAGE_IP: "1000000/1m",
  RATE_LIMIT_TRACKING_IP: "1000000/1m",
  RATE_LIMIT_SIGN_IN_IP: "1000000/1h",
  RATE_LIMIT_SIGN_IN_EMAIL: "1000000/1h",
};
