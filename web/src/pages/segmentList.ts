/**
 * What the segments list decides without the browser: which rows a search and a type
 * filter keep and in what order, what a segment's backfill means to a marketer, how long
 * ago something happened, the trend of its daily sizes, and how many requests run at once.
 */
import type { HistoryPoint, Segment } from "../api";

export const SEGMENT_TYPES = ["shared", "pinned", "static", "embedded"] as const;
export type SegmentTypeName = (typeof SEGMENT_TYPES)[number];
export type TypeFilter = "all" | SegmentTypeName;
export type SortKey = "name" | "members" | "changed";

/** Lower case without accents, so "célia" finds "Celia" and the other way round. */
function fold(text: string): string {
  return text.normalize("NFKD").replace(/\p{Diacritic}/gu, "").toLowerCase();
}

/** Every word of `query` appears in the segment's name, id or description. */
export function matchesSearch(segment: Pick<Segment, "id" | "name" | "description">, query: string): boolean {
  const haystack = fold(`${segment.name}\n${segment.id}\n${segment.description}`);
  return fold(query)
    .split(/\s+/)
    .filter((word) => word.length > 0)
    .every((word) => haystack.includes(word));
}

/** The rows a search and a type filter keep, in the order they came. */
export function filterSegments<S extends Pick<Segment, "id" | "name" | "description" | "type">>(
  segments: readonly S[],
  query: string,
  type: TypeFilter,
): S[] {
  return segments.filter((segment) => (type === "all" || segment.type === type) && matchesSearch(segment, query));
}

/**
 * Rows in the order a marketer asked for: by name, by members (most first), or by the
 * latest change (`changedAt`: a segment's last member change, else when it was saved;
 * newest first). Ties and unknowns fall back to the name, so the order never jumps.
 */
export function sortSegments<S extends Pick<Segment, "id" | "name" | "count">>(
  segments: readonly S[],
  key: SortKey,
  changedAt: (segment: S) => string | null = () => null,
): S[] {
  const byName = (a: S, b: S) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  const time = (segment: S) => {
    const at = changedAt(segment);
    return at === null ? Number.NEGATIVE_INFINITY : Date.parse(at);
  };
  const order: Record<SortKey, (a: S, b: S) => number> = {
    name: byName,
    members: (a, b) => (b.count ?? -1) - (a.count ?? -1) || byName(a, b),
    changed: (a, b) => time(b) - time(a) || byName(a, b),
  };
  return [...segments].sort(order[key]);
}

/** What the list shows about a segment's members being (re)computed. */
export type Filling =
  | { state: "archived" }
  | { state: "live" }
  | { state: "queued"; since: string | null }
  | { state: "running"; done: number; slicesFinished: number; slices: number }
  | { state: "filled"; at: string | null };

/**
 * `live`: no backfill was queued for the current version (the stream keeps it up to
 * date); `queued`: saved, no contact evaluated yet; `running` with how far; `filled`.
 */
export function fillingOf(segment: Pick<Segment, "status" | "backfill_progress">): Filling {
  if (segment.status === "archived") return { state: "archived" };
  const progress = segment.backfill_progress;
  if (!progress) return { state: "live" };
  if (progress.status === "queued") return { state: "queued", since: progress.queued_at ?? null };
  if (progress.status === "running") {
    return { state: "running", done: progress.contacts_done, slicesFinished: progress.slices_finished, slices: progress.slices };
  }
  return { state: "filled", at: progress.finished_at ?? null };
}

export function isFilling(segment: Pick<Segment, "status" | "backfill_progress">): boolean {
  const state = fillingOf(segment).state;
  return state === "queued" || state === "running";
}

/** What last changed about a segment: its members (the feed's newest transition) or its definition (a save), whichever is later. */
export interface LastChange {
  kind: "members" | "definition";
  at: string;
}

export function lastChangeOf(updatedAt: string | null | undefined, lastMemberChange: string | null | undefined): LastChange | null {
  const saved = updatedAt ? Date.parse(updatedAt) : Number.NaN;
  const changed = lastMemberChange ? Date.parse(lastMemberChange) : Number.NaN;
  if (!Number.isNaN(changed) && (Number.isNaN(saved) || changed >= saved)) return { kind: "members", at: lastMemberChange as string };
  return Number.isNaN(saved) ? null : { kind: "definition", at: updatedAt as string };
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "5 minutes ago", "yesterday", "just now" (under a minute, or a clock a little ahead). */
export function timeAgo(iso: string, now: Date, locale = "en"): string {
  const seconds = (Date.parse(iso) - now.getTime()) / 1000;
  if (Number.isNaN(seconds)) return iso;
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return "just now";
}

/** A trend over the last `days` days: the sizes recorded in them, oldest first, and how much the last differs from the first. */
export interface Trend {
  values: number[];
  change: number | null;
  first: string | null;
}

export function trendOf(points: readonly HistoryPoint[], now: Date, days = 30): Trend {
  const since = Date.parse(trendSince(now, days));
  const kept = points.filter((point) => Date.parse(point.at) >= since);
  const values = kept.map((point) => point.count);
  return {
    values,
    change: values.length >= 2 ? values[values.length - 1] - values[0] : null,
    first: kept.length > 0 ? kept[0].at : null,
  };
}

/** The first instant of the window `trendOf` keeps (the start of that day, UTC, as day points are), for the history request's `since`. */
export function trendSince(now: Date, days = 30): string {
  const start = new Date(now.getTime() - days * 24 * 3600 * 1000);
  start.setUTCHours(0, 0, 0, 0);
  return start.toISOString().replace(".000Z", "Z");
}

/**
 * Runs `work` on every item, at most `limit` at a time (a list of 50 segments must not
 * fire 50 requests at once); once `signal` aborts, nothing new starts. A failing item
 * does not stop the others: `work` handles its own errors.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
