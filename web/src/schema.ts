/**
 * A condition type's JSON Schema as the params form should show it: a short form that
 * reads like the condition, not like the pydantic models behind it.
 *
 * The catalog's schemas come from pydantic, and a form library draws them literally:
 * model names as headings ("EmailParams"), "Campaign Id option 1" selectors for every
 * optional parameter, `$ref`s, tuples it does not know. `formSchema` rewrites them
 * into what @rjsf/core draws well, for any condition type (an outside plugin's too):
 *
 * - `$ref`s are inlined (a cyclic one is left as it is, with the `$defs` it needs);
 * - an optional parameter (`anyOf: [X, {"type": "null"}]`, `default: null`) is X:
 *   leaving it empty already means null, so a field left empty is simply not sent;
 *   `integer` beside `number` is one number;
 * - a discriminated union (`oneOf` + `discriminator`, like the attribute condition's
 *   operators) becomes one object: the properties every branch shares, the
 *   discriminator as one select of every value, and each branch's own properties as
 *   rjsf `dependencies` on it — field, operator, then what that operator needs;
 * - a tuple (`prefixItems`, JSON Schema 2020-12) is draft-07's `items: [...]`, and a
 *   pair's ends are titled "from" and "to";
 * - titles are the parameter's name in words ("campaign id", "at least") unless the
 *   schema gives one of its own; model names and the root's title go (the condition
 *   picker names the type); the branches of a remaining choice are named by what they
 *   hold ("one" / "several", "text" / "number" / "true or false");
 * - enum values with underscores are shown in words (`not_equals` → "not equals").
 *
 * Completions: a parameter that names something the tenant has (see `completionKind`)
 * gets the tenant's observed names as `examples`, which rjsf offers as a datalist.
 */
import type { Json, JsonObject } from "./rule";

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNull(branch: Json): boolean {
  return isObject(branch) && branch.type === "null" && Object.keys(branch).length === 1;
}

function isNumeric(branch: Json): boolean {
  return isObject(branch) && Object.keys(branch).length === 1 && (branch.type === "number" || branch.type === "integer");
}

/** What the tenant has, by kind, for the completions of the params that name them. */
export interface Completions {
  /** Paths under `attributes.` (`plan`, `custom.plan_type`). */
  attributes: string[];
  events: string[];
  /** Names under `scores.` (`nps`, `lead`). */
  scores: string[];
  /** Names under `tags.` and `lists.`. */
  tags: string[];
  lists: string[];
}

export type CompletionKind = keyof Completions;

/**
 * Which of the tenant's names a parameter takes, from its name and description (the
 * catalog does not declare it, so this is a heuristic, kept to what the built-in
 * plugins write and an outside plugin can follow): a parameter named `field`, `path`
 * or `attribute` takes an attribute path; one described as an "event name" takes an
 * event; one read from `scores.<name>` takes a score name; a list of strings named
 * `tags` or `lists` takes tag or list names (offered for each of its items).
 */
export function completionKind(name: string, schema: JsonObject): CompletionKind | null {
  if (schema.type === "array" && isObject(schema.items) && schema.items.type === "string" && (name === "tags" || name === "lists")) return name;
  if (schema.type !== "string") return null;
  const description = typeof schema.description === "string" ? schema.description.toLowerCase() : "";
  if (["field", "path", "attribute"].includes(name)) return "attributes";
  if (/\bevent name\b/.test(description)) return "events";
  if (description.includes("scores.<name>")) return "scores";
  return null;
}

/** The tenant's names by kind, from `GET /fields`' attribute paths and event names. */
export function completionsOf(fields: { attributes: { path: string }[]; events: { name: string }[] }): Completions {
  const under = (prefix: string) => fields.attributes.filter((a) => a.path.startsWith(prefix)).map((a) => a.path.slice(prefix.length));
  return {
    attributes: under("attributes."),
    events: fields.events.map((e) => e.name),
    scores: under("scores."),
    tags: under("tags."),
    lists: under("lists."),
  };
}

const WORDS: Record<string, string> = {
  gte: "at least",
  gt: "more than",
  lte: "at most",
  lt: "less than",
  eq: "equal to",
  tz: "time zone",
  op: "operator",
};

/** A parameter's name in words: `campaign_id` → "campaign id", `gte` → "at least". */
export function humanize(name: string): string {
  return WORDS[name] ?? name.replace(/_/g, " ");
}

/** pydantic's own title for a field (`campaign_id` → "Campaign Id") or a model's name. */
function isGeneratedTitle(title: Json | undefined, name: string): boolean {
  if (typeof title !== "string") return true;
  const pydantic = name
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(" ");
  return title === pydantic || /^[A-Z][a-z0-9]+([A-Z][a-z0-9]*)+$/.test(title);
}

function resolve(ref: string, root: JsonObject): Json | undefined {
  if (!ref.startsWith("#/")) return undefined;
  let node: Json | undefined = root;
  for (const part of ref.slice(2).split("/")) node = isObject(node) ? node[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  return node;
}

/** The schema with every non-cyclic `$ref` replaced by what it names (siblings win). */
function inline(schema: Json, root: JsonObject, open: readonly string[] = []): Json {
  if (Array.isArray(schema)) return schema.map((item) => inline(item, root, open));
  if (!isObject(schema)) return schema;
  const ref = schema.$ref;
  if (typeof ref === "string" && !open.includes(ref)) {
    const target = resolve(ref, root);
    if (target !== undefined) {
      const { $ref: _, ...siblings } = schema;
      const merged = { ...(inline(target, root, [...open, ref]) as JsonObject) };
      for (const [key, value] of Object.entries(siblings)) merged[key] = inline(value, root, open);
      return merged;
    }
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) if (key !== "$defs") out[key] = inline(value, root, open);
  return out;
}

function hasRef(schema: Json): boolean {
  if (Array.isArray(schema)) return schema.some(hasRef);
  return isObject(schema) && ("$ref" in schema || Object.values(schema).some(hasRef));
}

/** The discriminator values a branch takes (its property's `const`, `enum` or `oneOf` of consts). */
function valuesOf(property: Json | undefined): Json[] {
  if (!isObject(property)) return [];
  if (property.const !== undefined) return [property.const];
  if (Array.isArray(property.enum)) return property.enum;
  return Array.isArray(property.oneOf) ? property.oneOf.flatMap((choice) => (isObject(choice) && choice.const !== undefined ? [choice.const] : [])) : [];
}

/** A discriminated `oneOf` (branches already simplified) as one object whose other properties depend on the discriminator. */
function flattenUnion(schema: JsonObject, key: string): JsonObject | null {
  const branches = schema.oneOf;
  if (!Array.isArray(branches) || !branches.every((b) => isObject(b) && isObject(b.properties) && valuesOf(b.properties[key]).length > 0)) {
    return null;
  }
  const objects = branches as JsonObject[];
  const props = (branch: JsonObject) => branch.properties as JsonObject;
  const required = (branch: JsonObject) => (Array.isArray(branch.required) ? (branch.required as string[]) : []);
  const first = props(objects[0]);
  const shared = Object.keys(first).filter(
    (name) => name !== key && objects.every((b) => JSON.stringify(props(b)[name]) === JSON.stringify(first[name])),
  );
  const sharedRequired = shared.filter((name) => objects.every((b) => required(b).includes(name)));
  const values = [...new Set(objects.flatMap((b) => valuesOf(props(b)[key])))];
  const { oneOf: _, discriminator: __, ...rest } = schema;
  const properties: JsonObject = {};
  for (const name of shared) properties[name] = first[name];
  properties[key] = wordEnum({ type: "string", enum: values, title: humanize(key) });
  return {
    ...rest,
    type: "object",
    properties,
    required: [...sharedRequired, key],
    dependencies: {
      [key]: {
        oneOf: objects.map((branch) => {
          const own: JsonObject = { [key]: { enum: valuesOf(props(branch)[key]) } };
          for (const [name, value] of Object.entries(props(branch))) if (name !== key && !shared.includes(name)) own[name] = value;
          return { properties: own, required: required(branch).filter((name) => name !== key && !shared.includes(name)) };
        }),
      },
    },
  };
}

const TYPE_WORDS: Record<string, string> = { string: "text", number: "number", integer: "number", boolean: "true or false", array: "list", object: "details" };

/** Names the branches of a choice by what they hold, so its selector reads as words. */
function nameBranches(branches: Json[]): Json[] {
  const kinds = branches.map((b) => (isObject(b) ? String(b.type ?? (b.enum || b.oneOf ? "enum" : "")) : ""));
  const oneOrSeveral = branches.length === 2 && kinds[1] === "array" && kinds[0] !== "array";
  return branches.map((branch, index) => {
    if (!isObject(branch)) return branch;
    const title = oneOrSeveral ? (index === 0 ? "one" : "several") : (TYPE_WORDS[kinds[index]] ?? (kinds[index] === "enum" ? "one of" : `choice ${index + 1}`));
    return { ...branch, title };
  });
}

/** `enum` values in words, when any differs from its words (rjsf draws const/title choices as a select). */
function wordEnum(schema: JsonObject): JsonObject {
  const values = schema.enum;
  if (!Array.isArray(values) || !values.some((value) => typeof value === "string" && value.includes("_"))) return schema;
  const { enum: _, ...rest } = schema;
  return { ...rest, oneOf: values.map((value) => ({ const: value, title: typeof value === "string" ? humanize(value) : String(value) })) };
}

/** An `anyOf` / `oneOf` without its null branch and with one number for number-or-integer. */
function simplifyChoice(out: JsonObject, choice: "anyOf" | "oneOf"): JsonObject {
  const branches = out[choice];
  if (!Array.isArray(branches) || branches.every((b) => isObject(b) && b.const !== undefined)) return out;
  let kept = branches.filter((branch) => !isNull(branch));
  if (kept.filter(isNumeric).length > 1) {
    const first = kept.findIndex(isNumeric);
    kept = kept.filter((branch, index) => !isNumeric(branch) || index === first).map((b) => (isNumeric(b) ? { type: "number" } : b));
  }
  const { [choice]: _, ...rest } = out;
  if (kept.length < branches.length && rest.default === null) delete rest.default;
  if (kept.length === 1 && isObject(kept[0])) return { ...kept[0], ...rest };
  return { ...rest, [choice]: nameBranches(kept) };
}

function simplify(schema: Json, completions: Completions | undefined): Json {
  if (Array.isArray(schema)) return schema.map((item) => simplify(item, completions));
  if (!isObject(schema)) return schema;
  const discriminator = schema.discriminator;
  if (isObject(discriminator) && typeof discriminator.propertyName === "string" && Array.isArray(schema.oneOf)) {
    const branches = schema.oneOf.map((branch) => simplify(branch, completions));
    const flat = flattenUnion({ ...schema, oneOf: branches }, discriminator.propertyName);
    if (flat !== null) return flat;
  }
  let out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] = key === "properties" || key === "patternProperties" ? value : simplify(value, completions);
  }
  if (isObject(schema.properties)) {
    const properties: JsonObject = {};
    for (const [name, value] of Object.entries(schema.properties)) {
      let property = simplify(value, completions);
      if (isObject(property)) {
        if (isGeneratedTitle(property.title, name)) property = { ...property, title: humanize(name) };
        const kind = completionKind(name, property);
        if (kind && completions && completions[kind].length > 0) {
          const examples = completions[kind];
          property = isObject(property.items) ? { ...property, items: { ...property.items, examples } } : { ...property, examples };
        }
      }
      properties[name] = property;
    }
    out.properties = properties;
  }
  if (isObject(schema.patternProperties)) {
    const patterns: JsonObject = {};
    for (const [pattern, value] of Object.entries(schema.patternProperties)) patterns[pattern] = simplify(value, completions);
    out.patternProperties = patterns;
  }
  if (Array.isArray(out.prefixItems) && out.items === undefined) {
    out.items = out.prefixItems;
    delete out.prefixItems;
  }
  if (Array.isArray(out.items) && out.items.length === 2) {
    // A pair is a range: its ends are named, where a list's items are not.
    out.items = out.items.map((item, index) => (isObject(item) && item.title === undefined ? { ...item, title: index === 0 ? "from" : "to" } : item));
  }
  out = simplifyChoice(simplifyChoice(out, "anyOf"), "oneOf");
  return wordEnum(out);
}

/**
 * The schema as the params form reads it (see the module docstring), with the tenant's
 * names as completions when given; the input is not changed.
 */
export function formSchema(schema: Json, completions?: Completions): Json {
  if (!isObject(schema)) return schema;
  const inlined = inline(schema, schema) as JsonObject;
  const { title: _, description: __, ...rest } = simplify(inlined, completions) as JsonObject;
  if (hasRef(rest) && schema.$defs !== undefined) rest.$defs = schema.$defs;
  return rest;
}

/**
 * The branch of a flattened union the params' discriminator picks, and the params with
 * only what that branch, and what every branch shares, has: switching the operator
 * from "equals" to "in" must not send the old `value` beside the new `values`.
 */
export function pruneToBranch(schema: Json, params: Json): Json {
  if (!isObject(schema) || !isObject(params) || !isObject(schema.dependencies) || !isObject(schema.properties)) return params;
  const [key, dependency] = Object.entries(schema.dependencies)[0] ?? [];
  if (key === undefined || !isObject(dependency) || !Array.isArray(dependency.oneOf)) return params;
  const branch = dependency.oneOf.find(
    (b) => isObject(b) && isObject(b.properties) && valuesOf(b.properties[key]).includes(params[key] as Json),
  );
  if (!isObject(branch) || !isObject(branch.properties)) return params;
  const allowed = new Set([...Object.keys(schema.properties), ...Object.keys(branch.properties)]);
  return Object.fromEntries(Object.entries(params).filter(([name]) => allowed.has(name)));
}

const DURATION = /\(m\|min\|h\|d\|w\)/;

/**
 * The hint a field shows beside its input: the duration format ("7d, 24h, 90m") for a
 * duration (a string whose pattern takes the engine's units), a number's bounds.
 */
export function fieldHint(schema: JsonObject): string | null {
  if (schema.type === "string" && typeof schema.pattern === "string" && DURATION.test(schema.pattern)) return "e.g. 7d, 24h, 90m";
  if (schema.type !== "number" && schema.type !== "integer") return null;
  const min = typeof schema.minimum === "number" ? schema.minimum.toLocaleString("en") : null;
  const max = typeof schema.maximum === "number" ? schema.maximum.toLocaleString("en") : null;
  if (min !== null && max !== null) return `${min} to ${max}`;
  if (min !== null) return `at least ${min}`;
  return max !== null ? `at most ${max}` : null;
}

/** The choices a parameter of a form schema takes, wherever the schema declares it (a dependency's branch too). */
function choicesOf(form: Json, name: string): Json[] {
  if (!isObject(form)) return [];
  const own = isObject(form.properties) ? valuesOf(form.properties[name]) : [];
  const branches = isObject(form.dependencies) ? Object.values(form.dependencies).flatMap((d) => (isObject(d) && Array.isArray(d.oneOf) ? d.oneOf : [])) : [];
  return [...own, ...branches.flatMap((branch) => choicesOf(branch, name))];
}

/**
 * An example's params in words, for its preset button: `{"op": "not_in", "values":
 * ["GB"]}` → "operator not in, values ["GB"]". A value is put in words only when it is
 * one of the parameter's choices in `form` (the form schema): an id is shown as written.
 */
export function describeParams(params: Json, form: Json): string {
  if (!isObject(params)) return JSON.stringify(params);
  const parts = Object.entries(params).map(([name, value]) => {
    const choice = typeof value === "string" && choicesOf(form, name).includes(value);
    const shown = typeof value === "string" ? (choice ? humanize(value) : value) : JSON.stringify(value);
    return `${humanize(name)} ${shown}`;
  });
  return parts.length > 0 ? parts.join(", ") : "as it is";
}
