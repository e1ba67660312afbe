// A tiny JSON-lines logger on stderr (stdout is unused). Error messages
// are logged, never URLs with credentials: redactURL strips them.

const levels: Record<string, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function newLogger(level: string, out: NodeJS.WritableStream = process.stderr): Logger {
  const min = levels[level] ?? levels.info;
  const write = (lvl: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (levels[lvl] < min) return;
    out.write(JSON.stringify({ time: new Date().toISOString(), level: lvl.toUpperCase(), msg, ...fields }) + '\n');
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that drops everything (tests). */
export const discard: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** redactURL removes the password from a URL for logs. */
export function redactURL(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = 'xxxxx';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
