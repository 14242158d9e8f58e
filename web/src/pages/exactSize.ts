/**
 * The builder's exact answers: the count of the rule being built and, on a saved
 * segment's edit page, the impact of saving it. Both come from the tenant's analytical
 * copy, which is exact as of its last change; the sampled estimate stands in while an
 * exact answer is on its way, or when there is none (no copy yet, a failure).
 */
import { ApiError, type Impact, type RuleCount } from "../api";
import { localTime, relativeTime } from "../trace";

/** The exact count of the rule as it is now: none asked (or on its way), answered, or refused. */
export type ExactState = { kind: "none" } | { kind: "ready"; count: RuleCount } | { kind: "unavailable"; reason: string };

/** The impact of the edit as it is now. */
export type ImpactState = { kind: "none" } | { kind: "loading"; previous?: Impact } | { kind: "ready"; impact: Impact } | { kind: "unavailable"; reason: string };

/** "as of 22 Nov 2026, 11:57 (3 minutes ago)": how fresh an exact answer is. */
export function asOf(iso: string | null | undefined, now: Date): string {
  return iso ? `as of ${localTime(iso)} (${relativeTime(iso, now)})` : "as of an unknown time";
}

/** What follows an exact count: exact, as of when, and how it was computed when that was not SQL. */
export function exactNote(count: RuleCount, now: Date): string {
  const how = count.path === "per-contact" ? ", evaluated contact by contact" : "";
  return `exact, ${asOf(count.as_of, now)}${how}`;
}

/** Whether the panel headlines the exact count: only for the rule it was asked for, and
 * never over the estimate's own refusal (its errors are shown on the rule's nodes). */
export function showsExact(exact: ExactState, estimateKind: string): exact is { kind: "ready"; count: RuleCount } {
  return exact.kind === "ready" && estimateKind !== "invalid";
}

/** Why the panel shows an estimate rather than the exact count, when that is worth saying:
 * not when the estimate is exact itself (a small tenant is read whole). */
export function missingExactNote(exact: ExactState, estimateIsExact: boolean): string | null {
  return exact.kind === "unavailable" && !estimateIsExact ? `no exact count: ${exact.reason}` : null;
}

/** Why there is no exact answer, in the API's words when it gave some. */
export function unavailableReason(error: unknown): string {
  if (error instanceof ApiError) return error.errors[0]?.message ?? error.message;
  return (error as Error).message;
}

const n = (value: number) => value.toLocaleString();

/** "12 would enter, 3 would exit": the edit's effect in one line. */
export function impactSummary(impact: Impact): string {
  return `${n(impact.would_enter)} would enter, ${n(impact.would_exit)} would exit`;
}

/** "120 members now, 129 after saving": the sizes the edit goes between. */
export function impactSizes(impact: Impact): string {
  return `${n(impact.members)} ${impact.members === 1 ? "member" : "members"} now, ${n(impact.after)} after saving`;
}

/** "and 40 more" beside the examples when there are more than were listed. */
export function moreThanListed(total: number, listed: number): string | null {
  return total > listed ? `and ${n(total - listed)} more` : null;
}

/** The explain page's address for a contact in a segment (the app's hash route). */
export function explainHref(segmentId: string, contactId: string): string {
  return `/explain/${encodeURIComponent(segmentId)}/${encodeURIComponent(contactId)}`;
}
