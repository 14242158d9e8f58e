/**
 * The keys that move a chart's read-out from point to point, as a slider's do (the
 * chart is one for assistive technology): a step with the arrows, ten with Page Up /
 * Page Down, the first and last point with Home / End.
 */
const STEPS: Record<string, number> = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10 };

/** The point `key` moves to from point `current` of `length`, or null for a key that moves nothing. */
export function movedIndex(key: string, current: number, length: number): number | null {
  if (length === 0) return null;
  if (key === "Home") return 0;
  if (key === "End") return length - 1;
  const step = STEPS[key];
  if (step === undefined) return null;
  return Math.min(length - 1, Math.max(0, current + step));
}
