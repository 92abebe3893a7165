// Waiting on what a test expects, not on the clock. Prefer a real signal: a promise a
// loopback server resolves when a request arrives (LoopbackServer.nextRequest), a line a
// child process prints, Playwright's waitForResponse/waitForFunction. Where polling is the
// only way to see a condition, poll with waitFor; either way a missing condition fails
// with a message naming what the test waited for, not with the runner's bare timeout.
//
//   const row = await waitFor(async () => (await sql`select … where id = ${id}`)[0], { what: `lead ${id}'s enrichment row` });
//   const request = await within(server.nextRequest((r) => r.method === "POST"), { what: "a POST to the loopback server" });

export interface WaitOptions {
  /** What the test waits for, as the failure should name it ("lead rp_… to be enriched"). */
  what: string;
  /** How long the condition may take before the test fails (default 5 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;

/**
 * Polls `condition` until it returns a value other than undefined, null or false, and
 * returns that value. A condition that throws counts as not met; its last error is quoted
 * when the wait fails.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, { what, timeoutMs = DEFAULT_TIMEOUT_MS }: WaitOptions): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** Resolves as `signal` does, or fails naming `what` when it has not settled within the time allowed. */
export async function within<T>(signal: Promise<T>, { what, timeoutMs = DEFAULT_TIMEOUT_MS }: WaitOptions): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([signal, expired]);
  } finally {
    clearTimeout(timer);
  }
}
