/** The pino logger factory. Secrets are redacted wherever they appear in a log object. */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, at any depth. */
export const SECRET_KEYS = [
  'token',
  'accessToken',
  'access_token',
  'mdAccessToken',
  'refreshToken',
  'refresh_token',
  'secret',
  'sec',
  'client_secret',
  'clientSecret',
  'password',
  'apiKey',
  'api_key',
  'authorization',
  'Authorization',
  'p-ticket',
  'encryptionKey',
  'oauthCode',
];

const paths = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
});

export interface LogOptions {
  level?: string;
  /** Where lines go; stdout when unset. Tests pass a stream to assert on lines. */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths, censor: '[redacted]' },
      base: { service: 'tradecast' },
    },
    options.destination,
  );
}
