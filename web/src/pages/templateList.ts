/**
 * The templates gallery's logic: a template's rule in words (which conditions, combined
 * how, each with its parameters as the builder's presets word them), and the gallery's
 * categories after a search.
 */
import type { ConditionType, Template } from "../api";
import type { Json, JsonObject } from "../rule";
import { describeParams, formSchema } from "../schema";

export type RuleSummary =
  | { kind: "all" | "any"; children: RuleSummary[] }
  | { kind: "not"; child: RuleSummary }
  | { kind: "condition"; name: string; label: string; detail: string }
  | { kind: "segment"; id: string }
  | { kind: "logic"; text: string };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The rule as a tree of words: `and` / `or` are "all of" / "any of", `!` (or `not`)
 * negates its one operand, a key the catalog names is a condition with its label (and its
 * parameters in words, none for a condition without any), a
 * `segment` node names the segment it requires, and anything else is plain JsonLogic,
 * shown as written.
 */
export function summarizeRule(rule: Json, catalog: readonly ConditionType[]): RuleSummary {
  const keys = isObject(rule) ? Object.keys(rule) : [];
  if (!isObject(rule) || keys.length !== 1) return { kind: "logic", text: JSON.stringify(rule) };
  const [key] = keys;
  const value = rule[key];
  if ((key === "and" || key === "or") && Array.isArray(value)) {
    return { kind: key === "and" ? "all" : "any", children: value.map((child) => summarizeRule(child, catalog)) };
  }
  if (key === "!" || key === "not") {
    const operand = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
    if (operand !== undefined) return { kind: "not", child: summarizeRule(operand, catalog) };
  }
  if (key === "segment" && isObject(value) && typeof value.id === "string") return { kind: "segment", id: value.id };
  const type = catalog.find((entry) => entry.name === key);
  if (type) {
    const detail = isObject(value) && Object.keys(value).length === 0 ? "" : describeParams(value, formSchema(type.schema));
    return { kind: "condition", name: key, label: type.label, detail };
  }
  return { kind: "logic", text: JSON.stringify(rule) };
}

/** The labels of the condition types a summary uses, each once, in first-use order. */
export function conditionLabels(summary: RuleSummary): string[] {
  const labels: string[] = [];
  const walk = (node: RuleSummary) => {
    if (node.kind === "condition" && !labels.includes(node.label)) labels.push(node.label);
    if (node.kind === "all" || node.kind === "any") node.children.forEach(walk);
    if (node.kind === "not") walk(node.child);
  };
  walk(summary);
  return labels;
}

const ACRONYMS = new Set(["rfm", "nps", "ltv"]);

/** A category's name as a heading: "rfm" → "RFM", "email" → "Email", "lifecycle_stage" → "Lifecycle stage". */
export function categoryTitle(name: string): string {
  const words = name.split(/[_\s]+/).filter((word) => word.length > 0);
  return words
    .map((word, index) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : word))
    .join(" ");
}

export interface Category {
  name: string;
  title: string;
  templates: Template[];
}

/**
 * The templates whose name, description, category or condition labels hold every word
 * of `query`, by category (categories and templates in name order).
 */
export function galleryOf(templates: readonly Template[], catalog: readonly ConditionType[], query: string): Category[] {
  const words = query.toLowerCase().split(/\s+/).filter((word) => word.length > 0);
  const kept = templates.filter((template) => {
    const labels = conditionLabels(summarizeRule(template.rule, catalog));
    const text = [template.name, template.description, template.category, template.id, ...labels].join("\n").toLowerCase();
    return words.every((word) => text.includes(word));
  });
  const byCategory = new Map<string, Template[]>();
  for (const template of kept) byCategory.set(template.category, [...(byCategory.get(template.category) ?? []), template]);
  return [...byCategory.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => ({ name, title: categoryTitle(name), templates: [...list].sort((a, b) => a.name.localeCompare(b.name)) }));
}
