/**
 * An explanation's trace (`POST /segments/{id}/explain/{contact}`) drawn as the rule
 * tree the engine evaluated, with each node's verdict and what it read.
 *
 * The trace comes from the engine (`core/compiler.py` and, for manual lists,
 * `core/segments.py`): every node is evaluated, even one a short-circuit made
 * irrelevant, which the trace flags `short_circuited`. Such a node did not decide
 * anything, and neither did anything below it, so the whole subtree is shown as
 * skipped (with what it would have said on its own) rather than as a miss that a
 * marketer would try to fix. Kinds this app does not know are drawn from their
 * description, so a newer engine never breaks the page.
 */
import { Link } from "wouter";

import type { ConditionType, Explanation } from "./api";
import type { Json } from "./rule";
import "./trace.css";

/** One node of the trace as the engine writes it. */
export interface TraceNode {
  path: string;
  kind: string;
  match: boolean;
  recheck_at: string | null;
  short_circuited?: boolean;
  children?: TraceNode[];
  type?: string;
  params?: Json;
  description?: string;
  values?: Record<string, Json>;
  segment_id?: string;
  expression?: Json;
  value?: Json;
  error?: string;
}

export type Status = "matched" | "not-matched" | "skipped";

/** A value the node read, named for a marketer. */
export interface ReadValue {
  name: string;
  value: string;
}

/** A trace node ready to draw. */
export interface ShownNode {
  path: string;
  kind: string;
  status: Status;
  /** What the node would say on its own (for a skipped node, what it was not asked). */
  match: boolean;
  title: string;
  detail: string | null;
  segmentId: string | null;
  values: ReadValue[];
  recheckAt: string | null;
  children: ShownNode[];
}

/** What names a node: condition labels from the catalog, segment names from the tenant's list. */
export interface Names {
  labels: ReadonlyMap<string, string>;
  segments: ReadonlyMap<string, string>;
}

export function namesFrom(catalog: readonly ConditionType[], segments: readonly { id: string; name: string }[]): Names {
  return {
    labels: new Map(catalog.map((entry) => [entry.name, entry.label])),
    segments: new Map(segments.map((entry) => [entry.id, entry.name])),
  };
}

const MISSING = "(missing)";

/** A read value as text: the engine writes `"(missing)"` for an attribute the contact lacks. */
export function formatValue(value: Json | undefined): string {
  if (value === MISSING || value === undefined) return "missing";
  if (typeof value === "number") return value.toLocaleString();
  if (typeof value === "string") return `“${value}”`;
  return JSON.stringify(value);
}

/** `events:email.opened` is a count of matching events in the condition's window; any other key is an attribute path. */
function valueName(key: string): string {
  if (!key.startsWith("events:")) return key;
  const name = key.slice("events:".length);
  return name === "*" ? "events counted (any name)" : `${name} events counted`;
}

function readValues(node: TraceNode): ReadValue[] {
  if (node.kind === "expression") {
    const read = [{ name: "result", value: formatValue(node.value ?? null) }];
    return node.error ? [...read, { name: "error", value: node.error }] : read;
  }
  return Object.entries(node.values ?? {}).map(([key, value]) => ({ name: valueName(key), value: formatValue(value) }));
}

function titled(node: TraceNode, names: Names): { title: string; detail: string | null } {
  switch (node.kind) {
    case "and":
      return { title: "All of these (AND)", detail: null };
    case "or":
      return { title: "Any of these (OR)", detail: null };
    case "not":
      return { title: "Not this (NOT)", detail: null };
    case "condition": {
      const label = names.labels.get(node.type ?? "") ?? node.type ?? "condition";
      return node.description && node.description !== label
        ? { title: `${label}: ${node.description}`, detail: null }
        : { title: label, detail: JSON.stringify(node.params ?? {}) };
    }
    case "segment": {
      const id = node.segment_id ?? "";
      const name = names.segments.get(id);
      return { title: name ? `In the segment “${name}”` : `In the segment ${id}`, detail: null };
    }
    case "expression":
      return { title: "JsonLogic", detail: JSON.stringify(node.expression ?? null) };
    default: {
      const text = node.description ?? node.kind;
      return { title: text.charAt(0).toUpperCase() + text.slice(1), detail: null };
    }
  }
}

/** The trace as drawn: titles, read values and a status per node, skipped below a short-circuit. */
export function showTrace(node: TraceNode, names: Names, skippedAbove = false): ShownNode {
  const skipped = skippedAbove || node.short_circuited === true;
  return {
    path: node.path,
    kind: node.kind,
    status: skipped ? "skipped" : node.match ? "matched" : "not-matched",
    match: node.match,
    ...titled(node, names),
    segmentId: node.kind === "segment" ? (node.segment_id ?? null) : null,
    values: readValues(node),
    recheckAt: node.recheck_at,
    children: (node.children ?? []).map((child) => showTrace(child, names, skipped)),
  };
}

/** A leaf that decided the answer, and whether a NOT above it turns its verdict around. */
export interface Reason {
  node: ShownNode;
  negated: boolean;
}

/**
 * The leaves the answer rests on, following how the engine combined the tree: a
 * false AND rests on the child that made it false, a true OR on the child that made
 * it true, a true AND or a false OR on every child, a NOT on its child.
 */
export function reasons(node: ShownNode, negated = false): Reason[] {
  if (node.children.length === 0) return [{ node, negated }];
  if (node.kind === "not") return reasons(node.children[0], !negated);
  const decisive = node.kind === "and" ? !node.match : node.match;
  const counted = node.children.filter((child) => child.status !== "skipped");
  const deciding = decisive ? counted.filter((child) => child.match === node.match).slice(0, 1) : counted;
  return deciding.flatMap((child) => reasons(child, negated));
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

/** "in 3 days", "2 minutes ago", "now": the largest unit the distance fills at least once. */
export function relativeTime(iso: string, now: Date): string {
  const seconds = (Date.parse(iso) - now.getTime()) / 1000;
  const format = new Intl.RelativeTimeFormat("en", { numeric: "always" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return "now";
}

/** An instant in the reader's own time zone. */
export function localTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** What the stored membership row says, and whether it disagrees with the fresh evaluation. */
export function storedMembership(explanation: Explanation, now: Date): { text: string; disagreement: string | null } {
  const { stored, match } = explanation;
  const since = (iso: string) => `${localTime(iso)} (${relativeTime(iso, now)})`;
  const text = stored.member
    ? stored.entered_at
      ? `member since ${since(stored.entered_at)}`
      : "member"
    : stored.exited_at
      ? `not a member: left ${since(stored.exited_at)}`
      : "not a member";
  if (stored.member === match) return { text, disagreement: null };
  const says = (member: boolean) => (member ? "a member" : "not a member");
  return {
    text,
    disagreement:
      `The stored membership says ${says(stored.member)}, but evaluating now says ${says(match)}. ` +
      "They differ only while the real-time path (the event stream, the minute scheduler, " +
      "or the backfill of a new version) catches up with this contact: press Explain again in a moment.",
  };
}

/** When time alone can next change the answer (new data or a new version of the segment can at any time). */
export function recheckText(recheckAt: string | null, now: Date): string {
  if (recheckAt === null) return "No re-check scheduled: time alone does not change this answer, only new data or a new version of the segment.";
  return `Re-checked ${localTime(recheckAt)} (${relativeTime(recheckAt, now)}): the earliest time alone can change the answer.`;
}

const MARKS: Record<Status, string> = { matched: "✓ matched", "not-matched": "✗ not matched", skipped: "↷ skipped" };

function Node({ node, now }: { node: ShownNode; now: Date }) {
  return (
    <li className={`trace-node ${node.status}`} data-testid={`trace-node${node.path}`} data-status={node.status}>
      <div className="trace-line">
        <span className={`trace-mark ${node.status}`} data-testid="trace-mark">
          {MARKS[node.status]}
        </span>
        <span className="trace-title">
          {node.segmentId !== null ? (
            <Link href={`/segments/${encodeURIComponent(node.segmentId)}`}>{node.title}</Link>
          ) : (
            node.title
          )}
        </span>
        {node.status === "skipped" && (
          <span className="trace-aside">not needed for the answer (on its own: {node.match ? "matches" : "does not match"})</span>
        )}
      </div>
      {node.detail && <code className="trace-detail">{node.detail}</code>}
      {node.segmentId !== null && <p className="trace-aside">evaluated now for this contact, not read from its stored membership</p>}
      {node.values.length > 0 && (
        <dl className="trace-values" aria-label="values read">
          {node.values.map((read) => (
            <div key={read.name}>
              <dt>{read.name}</dt>
              <dd>{read.value}</dd>
            </div>
          ))}
        </dl>
      )}
      {node.recheckAt && node.children.length === 0 && (
        <p className="trace-aside">can change {relativeTime(node.recheckAt, now)} ({localTime(node.recheckAt)})</p>
      )}
      {node.children.length > 0 && (
        <ul className="trace-children">
          {node.children.map((child) => (
            <Node key={child.path} node={child} now={now} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** The rule tree of an explanation, each node marked in words and colour, after the leaves the answer rests on. */
export function TraceTree({ trace, names, now }: { trace: TraceNode; names: Names; now: Date }) {
  const shown = showTrace(trace, names);
  return (
    <>
      <p className="trace-because">Because:</p>
      <ul className="trace-reasons" data-testid="trace-reasons">
        {reasons(shown).map(({ node, negated }) => (
          <li key={node.path}>
            <span className={`trace-mark ${node.status}`}>{MARKS[node.status]}</span> {node.title}
            {negated && <span className="trace-aside"> (inside a NOT: its opposite is what counts)</span>}
          </li>
        ))}
      </ul>
      <p className="trace-legend">
        Each node is <span className="trace-mark matched">✓ matched</span>,{" "}
        <span className="trace-mark not-matched">✗ not matched</span> or <span className="trace-mark skipped">↷ skipped</span>{" "}
        (its group was decided before it, so it did not count).
      </p>
      <ul className="trace" aria-label="rule tree">
        <Node node={shown} now={now} />
      </ul>
    </>
  );
}
