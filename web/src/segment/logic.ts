/**
 * The segment page's decisions that do not need a browser: how a size history becomes
 * a chart's series, how polled transitions join the feed, how member pages are walked,
 * how a manual include / exclude edit becomes the whole definition the API wants, and
 * how a snapshot's counts read. Kept pure so `vitest` checks them without a stack.
 */
import { ApiError, type BackfillProgress, type HistoryPoint, type Segment, type Transition } from "../api";
import type { JsonObject } from "../rule";

export type Resolution = "hour" | "day";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
export const STEP_MS: Record<Resolution, number> = { hour: HOUR_MS, day: DAY_MS };

/** How far back each view of the chart reads: two days of hours, ninety of days. */
export const SPAN_MS: Record<Resolution, number> = { hour: 48 * HOUR_MS, day: 90 * DAY_MS };

/** The `since` of a history read: the start of the first bucket the view shows. */
export function sinceFor(resolution: Resolution, now: Date): string {
  const step = STEP_MS[resolution];
  const start = Math.floor((now.getTime() - SPAN_MS[resolution]) / step) * step;
  return new Date(start).toISOString();
}

/**
 * The chart's x (Unix seconds, one per bucket from the first point to the last) and y
 * (the count, `null` where no point was recorded). A missing bucket means the scheduler
 * did not record that hour or day, not that the segment was empty, so it is a gap in
 * the line rather than a zero.
 */
export function historySeries(points: HistoryPoint[], resolution: Resolution): [number[], (number | null)[]] {
  if (points.length === 0) return [[], []];
  const step = STEP_MS[resolution];
  const counts = new Map(points.map((point) => [Date.parse(point.at), point.count]));
  const times = [...counts.keys()].sort((a, b) => a - b);
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  for (let at = times[0]; at <= times[times.length - 1]; at += step) {
    xs.push(at / 1000);
    ys.push(counts.get(at) ?? null);
  }
  return [xs, ys];
}

/** At most this many transitions stay in the live feed (the oldest go first). */
export const FEED_CAP = 200;

const transitionKey = (t: Transition) => `${t.at}\u0000${t.contact_id}\u0000${t.kind}`;

/** The feed after a poll: the newer page on top, each transition once, newest first, capped. */
export function mergeFeed(shown: Transition[], newer: Transition[], cap = FEED_CAP): Transition[] {
  const seen = new Set<string>();
  const merged: Transition[] = [];
  for (const transition of [...newer, ...shown]) {
    const key = transitionKey(transition);
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push(transition);
  }
  merged.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return merged.slice(0, cap);
}

/**
 * Member pages are walked with the API's opaque cursors, which only go forward, so
 * the page keeps the cursor of every page it has shown: the last is the current
 * page's (`null` for the first), popping it goes back one page.
 */
export type CursorStack = (string | null)[];

export const firstPage: CursorStack = [null];

export function nextPage(stack: CursorStack, cursor: string): CursorStack {
  return [...stack, cursor];
}

export function previousPage(stack: CursorStack): CursorStack {
  return stack.length > 1 ? stack.slice(0, -1) : stack;
}

const CONTACT_ID = /^[^#\x00-\x1f\x7f]{1,256}$/;

/** Contact ids typed or pasted (separated by commas, spaces or lines), and the ones the API would refuse. */
export function parseContactIds(text: string): { ids: string[]; invalid: string[] } {
  const words = text.split(/[\s,;]+/).filter((word) => word !== "");
  return {
    ids: [...new Set(words.filter((word) => CONTACT_ID.test(word)))],
    invalid: words.filter((word) => !CONTACT_ID.test(word)),
  };
}

/** `list` with `added` appended (each id once, in the order first seen). */
export function withIds(list: string[], added: string[]): string[] {
  return [...new Set([...list, ...added])];
}

export interface ManualContacts {
  include_contacts: string[];
  exclude_contacts: string[];
}

/**
 * The whole definition a PUT needs (it replaces the segment, so every field is sent,
 * not only the lists that changed), with the id `Api.save` takes its path from.
 */
export function definitionWith(segment: Segment, manual: ManualContacts): JsonObject {
  return {
    id: segment.id,
    name: segment.name,
    type: segment.type,
    description: segment.description,
    rule: segment.rule as JsonObject | null,
    exclude_segments: segment.exclude_segments,
    include_contacts: manual.include_contacts,
    exclude_contacts: manual.exclude_contacts,
  };
}

function rebaseList(was: string[], edited: string[], now: string[]): string[] {
  const added = edited.filter((id) => !was.includes(id));
  const removed = new Set(was.filter((id) => !edited.includes(id)));
  return withIds(
    now.filter((id) => !removed.has(id)),
    added,
  );
}

/**
 * The edit re-applied to a newer version after a conflict: what the marketer added is
 * added to the newer lists, what they removed is removed from them, and whatever the
 * other person changed stays.
 */
export function rebaseManual(was: ManualContacts, edited: ManualContacts, now: ManualContacts): ManualContacts {
  return {
    include_contacts: rebaseList(was.include_contacts, edited.include_contacts, now.include_contacts),
    exclude_contacts: rebaseList(was.exclude_contacts, edited.exclude_contacts, now.exclude_contacts),
  };
}

export const SNAPSHOT_CATEGORIES: { key: string; label: string }[] = [
  { key: "addressable", label: "addressable" },
  { key: "bounced", label: "bounced" },
  { key: "unsubscribed", label: "unsubscribed" },
  { key: "spam", label: "marked as spam" },
  { key: "no_email", label: "no email address" },
];

export interface BreakdownRow {
  key: string;
  label: string;
  count: number;
  /** Of all the snapshot's contacts, 0–1 (flags overlap, so rows need not sum to 1). */
  share: number;
}

/** A snapshot's counts as rows: the known categories in order, then any the API adds. */
export function breakdown(counts: Record<string, number>): BreakdownRow[] {
  const all = counts.all ?? 0;
  const known = new Set(["all", ...SNAPSHOT_CATEGORIES.map((category) => category.key)]);
  const extra = Object.keys(counts)
    .filter((key) => !known.has(key))
    .sort()
    .map((key) => ({ key, label: key.replaceAll("_", " ") }));
  return [...SNAPSHOT_CATEGORIES, ...extra].map(({ key, label }) => {
    const count = counts[key] ?? 0;
    return { key, label, count, share: all > 0 ? count / all : 0 };
  });
}

/** How far a backfill has got, 0–1, from the contact slices that run in parallel. */
export function fillFraction(progress: BackfillProgress): number {
  if (progress.status === "complete") return 1;
  return progress.slices > 0 ? progress.slices_finished / progress.slices : 0;
}

/** An API refusal in words: its message, then each detail with the field it names. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return (error as Error).message;
  const details = error.errors
    .filter((detail) => detail.message !== error.message)
    .map((detail) => (detail.path ? `${detail.path}: ${detail.message}` : detail.message));
  return [error.message, ...details].join("; ");
}

/** A feed entry's time: the clock time when it happened today, else the date too. */
export function feedTime(iso: string, now: Date): string {
  const at = new Date(iso);
  return at.toDateString() === now.toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}

export interface SizeChange {
  from: HistoryPoint;
  to: HistoryPoint;
  delta: number;
  /** The change relative to the first size; `null` when that was 0 (any growth from nothing is not a percentage). */
  ratio: number | null;
}

/** How much the size changed from the first point shown to the last; `null` below two points. */
export function sizeChange(points: HistoryPoint[]): SizeChange | null {
  if (points.length < 2) return null;
  const from = points[0];
  const to = points[points.length - 1];
  const delta = to.count - from.count;
  return { from, to, delta, ratio: from.count === 0 ? null : delta / from.count };
}


export type ManualProblems = Partial<Record<keyof ManualContacts | "other", string>>;

const MANUAL_LISTS = ["include_contacts", "exclude_contacts"] as const;

/** A refused save's details beside the list each names (its pointer is in that list), the rest together. */
export function problemsByList(error: ApiError): ManualProblems {
  if (error.errors.length === 0) return { other: error.message };
  const found: ManualProblems = {};
  for (const detail of error.errors) {
    const where = MANUAL_LISTS.find((name) => detail.path === `/${name}` || detail.path.startsWith(`/${name}/`)) ?? "other";
    const text = detail.path ? `${detail.path}: ${detail.message}` : detail.message;
    found[where] = found[where] ? `${found[where]}; ${text}` : text;
  }
  return found;
}
