// Reading deployment settings: the env reader each entry point (Node or Deno) hands in, and
// the one parsing rule the settings modules share. A leaf: it imports nothing of ours, so
// config.ts and the per-area config modules can all use it without importing each other.

export type EnvReader = (name: string) => string | undefined;

/** PORT's default: the 5440x range keeps clear of `supabase start` (54320-54329). */
export const DEFAULT_API_PORT = 54400;

export function positiveInt(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}
