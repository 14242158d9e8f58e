/**
 * A segment rule (the engine's JSON) and react-querybuilder's tree, both ways.
 *
 * A condition node `{"<type>": params}` is a tree rule whose field is the type and
 * whose value is the params object; `{"segment": {"id": ...}}` is one too. Any other
 * leaf is plain JsonLogic, kept whole as the value of a `$jsonlogic` rule so a
 * marketer can edit it as JSON and nothing the builder does not model is lost.
 *
 * Import uses react-querybuilder's `parseJsonLogic` with one import operation per
 * condition type. Export is done here rather than with `formatQuery`: the engine
 * answers errors with JSON pointers into the exported rule, so export must record
 * which tree node every pointer names, and `formatQuery` silently drops incomplete
 * rules, which would shift the indexes those pointers rely on.
 *
 * The API's answers name places in the rule by JSON pointer (errors into the rule as
 * sent, warnings into its normal form, per-condition sizes into the request body);
 * `place` and `aloneByNode` put them on the tree nodes those pointers name.
 */
import type { RuleGroupType, RuleType } from "react-querybuilder";
import { parseJsonLogic } from "react-querybuilder/parseJsonLogic";

import { humanize } from "./schema";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The tree field of plain JsonLogic leaves. */
export const JSONLOGIC = "$jsonlogic";
/** The tree field of segment references; the engine handles them, not a plugin. */
export const SEGMENT = "segment";
/** The one operator a condition rule has: its parameters carry the comparison. */
export const MATCHES = "matches";

const LOGIC = new Set(["and", "or", "!", "not"]);

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The single key of `{"<key>": value}`, or null for any other value. */
function onlyKey(node: Json): string | null {
  if (!isObject(node)) return null;
  const keys = Object.keys(node);
  return keys.length === 1 ? keys[0] : null;
}

/**
 * Rewrites what `parseJsonLogic` does not read the engine's way: `not` and
 * `{"!": [x]}` become `{"!": x}`, `!!x` becomes `x` (the engine's normal form does
 * the same), and every leaf that is not a condition is wrapped as `{"$jsonlogic": leaf}`.
 */
function prepare(node: Json, types: ReadonlySet<string>): Json {
  const key = onlyKey(node);
  if (key !== null && LOGIC.has(key) && isObject(node)) {
    const value = node[key];
    if (key === "and" || key === "or") {
      return Array.isArray(value) ? { [key]: value.map((child) => prepare(child, types)) } : { [JSONLOGIC]: node };
    }
    const operand = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
    if (operand === undefined) return { [JSONLOGIC]: node };
    const inner = prepare(operand, types);
    const innerKey = onlyKey(inner);
    return innerKey === "!" && isObject(inner) ? inner["!"] : { "!": inner };
  }
  if (key !== null && (key === SEGMENT || types.has(key))) return node;
  return { [JSONLOGIC]: node };
}

/** The tree of a rule; `types` are the catalog's condition-type names. `null`: an empty tree. */
export function ruleToQuery(rule: Json | null, types: Iterable<string>): RuleGroupType {
  const names = new Set(types);
  if (rule === null) return { combinator: "and", rules: [] };
  const leaf = (field: string) => (value: Json): RuleType => ({ field, operator: MATCHES, value });
  const operations: Record<string, (value: Json) => RuleType> = { [JSONLOGIC]: leaf(JSONLOGIC), [SEGMENT]: leaf(SEGMENT) };
  for (const name of names) operations[name] = leaf(name);
  return parseJsonLogic(prepare(rule, names) as never, { jsonLogicOperations: operations });
}

/** A tree node's place: indexes into `rules` from the root, joined by "." ("" is the root). */
export type NodePath = string;

export interface Exported {
  /** The rule, or null while the tree holds nothing to send. */
  rule: Json | null;
  /** Every exported node's JSON pointer into `rule` and the tree node it came from. */
  pointers: Map<string, NodePath>;
}

type Node = RuleGroupType["rules"][number];

function isGroup(node: Node): node is RuleGroupType {
  return typeof node === "object" && "rules" in node;
}

function hasContent(node: Node): boolean {
  if (typeof node === "string") return false;
  if (isGroup(node)) return node.rules.some(hasContent);
  return node.field !== "" && node.field !== "~";
}

/**
 * The rule a tree means. Empty groups and rules with no type yet are left out (a
 * builder holds them while a marketer works); a group with one child is that
 * child, as in the engine's normal form.
 */
export function queryToRule(query: RuleGroupType): Exported {
  const pointers = new Map<string, NodePath>();
  const visit = (node: Node, path: number[], pointer: string): Json => {
    const key = path.join(".");
    if (!isGroup(node)) {
      const rule = node as RuleType;
      pointers.set(pointer, key);
      return rule.field === JSONLOGIC ? (rule.value as Json) : { [rule.field]: rule.value as Json };
    }
    if (!pointers.has(pointer)) pointers.set(pointer, key);
    const kept = node.rules.map((child, index) => [child, index] as const).filter(([child]) => hasContent(child));
    const body = node.not ? `${pointer}/!` : pointer;
    if (node.not) pointers.set(body, key);
    let inner: Json;
    if (kept.length === 1) {
      const [child, index] = kept[0];
      inner = visit(child, [...path, index], body);
    } else {
      const combinator = node.combinator === "or" ? "or" : "and";
      inner = { [combinator]: kept.map(([child, index], at) => visit(child, [...path, index], `${body}/${combinator}/${at}`)) };
    }
    return node.not ? { "!": inner } : inner;
  };
  if (!hasContent(query)) return { rule: null, pointers };
  return { rule: visit(query, [], ""), pointers };
}

/**
 * The tree node an error's JSON pointer into the rule names: the deepest exported
 * node whose pointer is a prefix of it (a pointer into a condition's params names
 * the condition). `null` when the pointer is not into the rule at all.
 */
export function nodeForPointer(pointers: Map<string, NodePath>, pointer: string): NodePath | null {
  let best: string | null = null;
  for (const candidate of pointers.keys()) {
    const prefix = candidate === "" || pointer === candidate || pointer.startsWith(`${candidate}/`);
    if (prefix && (best === null || candidate.length > best.length)) best = candidate;
  }
  return best === null ? null : (pointers.get(best) ?? null);
}

/**
 * Where inside its node a pointer points, in the node's parameter names: `["within"]`
 * for `/and/0/email/within` when `/and/0` is the node (the condition's own key is left
 * out); empty when the pointer is the node itself.
 */
export function pointerWithin(pointers: Map<string, NodePath>, pointer: string, node: NodePath): string[] {
  let base = "";
  for (const [candidate, path] of pointers) {
    const prefix = candidate === "" || pointer === candidate || pointer.startsWith(`${candidate}/`);
    if (path === node && prefix && candidate.length >= base.length) base = candidate;
  }
  return pointer
    .slice(base.length)
    .split("/")
    .slice(2)
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** A pointer the API gives for a request body (`/rule/...`) as a pointer into the rule. */
export function rulePointer(bodyPointer: string): string | null {
  if (bodyPointer === "/rule") return "";
  return bodyPointer.startsWith("/rule/") ? bodyPointer.slice("/rule".length) : null;
}

type Effective =
  | { kind: "leaf"; path: NodePath }
  | { kind: "and" | "or"; path: NodePath; children: Effective[] }
  | { kind: "not"; path: NodePath; child: Effective };

/**
 * Every node's JSON pointer into the rule's normal form (what `POST /rules/validate`
 * returns as `normalized`, and what its warnings point into), to the tree node it
 * comes from. The engine's normal form differs from `queryToRule`'s export where the
 * tree nests a group in a group of the same kind (`and` in `and` is flattened) or
 * negates a negation (`!!x` is `x`), so those pointers are computed the engine's way.
 */
export function normalPointers(query: RuleGroupType): Map<string, NodePath> {
  const effective = (node: Node, path: number[]): Effective | null => {
    const key = path.join(".");
    if (!hasContent(node)) return null;
    if (!isGroup(node)) return { kind: "leaf", path: key };
    const kind = node.combinator === "or" ? "or" : "and";
    const children: Effective[] = [];
    node.rules.forEach((child, index) => {
      const inner = effective(child, [...path, index]);
      if (inner === null) return;
      if (inner.kind === kind) children.push(...inner.children);
      else children.push(inner);
    });
    const body: Effective = children.length === 1 ? children[0] : { kind, path: key, children };
    if (!node.not) return body;
    return body.kind === "not" ? body.child : { kind: "not", path: key, child: body };
  };
  const pointers = new Map<string, NodePath>();
  const assign = (node: Effective, pointer: string) => {
    if (!pointers.has(pointer)) pointers.set(pointer, node.path);
    if (node.kind === "not") assign(node.child, `${pointer}/!`);
    if (node.kind === "and" || node.kind === "or") node.children.forEach((child, at) => assign(child, `${pointer}/${node.kind}/${at}`));
  };
  const root = effective(query, []);
  if (root !== null) assign(root, "");
  return pointers;
}

/** A problem the API reported on a node: an error stops the rule, a warning does not. */
export interface Note {
  message: string;
  suggestion?: string | null;
}

/** Contact ids as a marketer pastes them: one per line, or separated by commas or spaces. */
export function parseIds(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).filter((id) => id !== ""))];
}

/** The API's notes (errors or warnings) on the tree nodes their pointers name, and those that name none. */
export function place(
  notes: { path: string; message: string; suggestion?: string | null }[],
  pointers: Map<string, string>,
  fromBody: boolean,
): [Map<string, Note[]>, string[]] {
  const byNode = new Map<string, Note[]>();
  const elsewhere: string[] = [];
  for (const note of notes) {
    const pointer = fromBody ? rulePointer(note.path) : note.path;
    const node = pointer === null ? null : nodeForPointer(pointers, pointer);
    if (node === null) elsewhere.push(`${note.path ? `${note.path}: ` : ""}${note.message}${note.suggestion ? ` (${note.suggestion})` : ""}`);
    else {
      const within = pointer === null ? [] : pointerWithin(pointers, pointer, node);
      const message = within.length > 0 ? `${within.map((token) => (/^\d+$/.test(token) ? `#${Number(token) + 1}` : humanize(token))).join(" › ")}: ${note.message}` : note.message;
      byNode.set(node, [...(byNode.get(node) ?? []), { message, suggestion: note.suggestion }]);
    }
  }
  return [byNode, elsewhere];
}

/** Each top-level condition's estimate by the tree node it sizes; none when the rule is one condition (it is the total). */
export function aloneByNode<T extends { path: string }>(entries: T[] | null | undefined, pointers: Map<string, string>): Map<string, T> {
  const byNode = new Map<string, T>();
  if (!entries || entries.length < 2) return byNode;
  for (const entry of entries) {
    const pointer = rulePointer(entry.path);
    const node = pointer === null ? undefined : pointers.get(pointer);
    if (node !== undefined) byNode.set(node, entry);
  }
  return byNode;
}
