import validator from "@rjsf/validator-ajv8";
import { describe, expect, it } from "vitest";

import catalog from "./fixtures/condition-types.json";
import { completionKind, completionsOf, type Completions, describeParams, fieldHint, formSchema, humanize, pruneToBranch } from "../src/schema";
import type { Json, JsonObject } from "../src/rule";

type Visit = (node: JsonObject, key: string | null) => void;

/** Calls `visit` on every schema object in `schema`, with the property name it is under (if any). */
function walk(schema: Json, visit: Visit, key: string | null = null): void {
  if (Array.isArray(schema)) {
    for (const item of schema) walk(item, visit, null);
    return;
  }
  if (typeof schema !== "object" || schema === null) return;
  visit(schema, key);
  for (const [name, value] of Object.entries(schema)) {
    if (name === "properties" && typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const [property, sub] of Object.entries(value)) walk(sub, visit, property);
    } else if (name !== "examples" && name !== "default" && name !== "const") {
      walk(value, visit, null);
    }
  }
}

function nullBranches(schema: Json): number {
  let count = 0;
  walk(schema, (node) => {
    if (Array.isArray(node.anyOf)) count += node.anyOf.filter((b) => JSON.stringify(b) === '{"type":"null"}').length;
  });
  return count;
}

const TYPES = catalog.map((entry) => [entry.name, entry as unknown as { name: string; schema: JsonObject; examples: JsonObject[] }] as const);
const NONE: Completions = {
  attributes: ["plan", "country", "custom.plan_type"],
  events: ["purchase", "app.opened"],
  scores: ["nps", "lead"],
  tags: ["vip", "beta"],
  lists: ["launch-2026"],
};

describe("formSchema on every condition type of the catalog", () => {
  it("the fixture is the whole catalog, with optional parameters and a discriminated union to simplify", () => {
    expect(TYPES.length).toBeGreaterThanOrEqual(26);
    expect(TYPES.map(([, entry]) => nullBranches(entry.schema)).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
    expect(TYPES.some(([, entry]) => JSON.stringify(entry.schema).includes('"discriminator"'))).toBe(true);
  });

  it.each(TYPES)("%s: no null branch, $ref, tuple, discriminator or model title is left", (_, entry) => {
    const form = formSchema(entry.schema) as JsonObject;
    const text = JSON.stringify(form);
    expect(nullBranches(form)).toBe(0);
    for (const gone of ['"$ref"', '"prefixItems"', '"discriminator"', '"$defs"']) expect(text).not.toContain(gone);
    expect(form.title).toBeUndefined();
    walk(form, (node, key) => {
      if (typeof node.title !== "string") return;
      expect(node.title, `${key}: a model's name`).not.toMatch(/^[A-Z][a-z0-9]+([A-Z][a-z0-9]*)+$/);
      if (key !== null) expect(node.title, `${key}: pydantic's title`).toBe(humanize(key));
    });
  });

  it.each(TYPES)("%s: every choice left names its branches in words (no 'option 1')", (_, entry) => {
    walk(formSchema(entry.schema), (node) => {
      if (Object.keys(node).length === 1 && Array.isArray(node.oneOf) && node.oneOf.every((b) => (b as JsonObject).properties)) return; // a dependency: not a choice drawn
      for (const choice of ["anyOf", "oneOf"] as const) {
        const branches = node[choice];
        if (!Array.isArray(branches)) continue;
        for (const branch of branches) {
          const title = (branch as JsonObject).title;
          expect(typeof title === "string" && title.length > 0 && !/option/i.test(title), JSON.stringify(branch).slice(0, 80)).toBe(true);
        }
      }
    });
  });

  it.each(TYPES)("%s: the form accepts every example of the type, and the params from JSON it draws", (name, entry) => {
    const form = formSchema(entry.schema, NONE) as never;
    for (const example of entry.examples) {
      const params = example[name] as JsonObject;
      const { errors } = validator.validateFormData(params, form);
      expect(errors, JSON.stringify(params)).toEqual([]);
      expect(pruneToBranch(form, params)).toEqual(params);
    }
  });

  it.each(TYPES)("%s: the input is never modified", (_, entry) => {
    const before = JSON.stringify(entry.schema);
    formSchema(entry.schema, NONE);
    expect(JSON.stringify(entry.schema)).toBe(before);
  });
});

describe("the simplifications", () => {
  it("an optional parameter is its own schema, titled in words, with its description", () => {
    const optional: Json = { anyOf: [{ type: "string", pattern: "^\\d+d$" }, { type: "null" }], default: null, title: "Min Count", description: "window" };
    expect(formSchema({ type: "object", title: "EmailParams", properties: { min_count: optional } })).toEqual({
      type: "object",
      properties: { min_count: { type: "string", pattern: "^\\d+d$", title: "min count", description: "window" } },
    });
  });

  it("a scalar-or-list choice is 'one' or 'several'; other choices are named by type", () => {
    const campaign: Json = { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }, { type: "null" }], default: null };
    expect(formSchema({ type: "object", properties: { campaign_id: campaign } })).toEqual({
      type: "object",
      properties: {
        campaign_id: { title: "campaign id", anyOf: [{ type: "string", title: "one" }, { type: "array", items: { type: "string" }, title: "several" }] },
      },
    });
    const value: Json = { anyOf: [{ type: "string" }, { type: "integer" }, { type: "number" }, { type: "boolean" }] };
    expect((formSchema({ properties: { value } }) as JsonObject).properties).toEqual({
      value: { title: "value", anyOf: [{ type: "string", title: "text" }, { type: "number", title: "number" }, { type: "boolean", title: "true or false" }] },
    });
  });

  it("a tuple is draft-07 items, number-or-integer one number, comparison names in words", () => {
    const between: Json = { type: "array", prefixItems: [{ type: "string" }, { type: "string" }], minItems: 2 };
    const gte: Json = { anyOf: [{ type: "number" }, { type: "integer" }, { type: "null" }], default: null, title: "Gte" };
    expect(formSchema({ properties: { between, gte } })).toEqual({
      properties: {
        between: { type: "array", items: [{ type: "string", title: "from" }, { type: "string", title: "to" }], minItems: 2, title: "between" },
        gte: { type: "number", title: "at least" },
      },
    });
  });

  it("a schema's own title and description for a parameter are kept", () => {
    const form = formSchema({ properties: { lookback: { type: "string", title: "How far back", description: "d" } } }) as JsonObject;
    expect(form.properties).toEqual({ lookback: { type: "string", title: "How far back", description: "d" } });
  });

  it("enum values with underscores are shown in words, the values unchanged", () => {
    const form = formSchema({ properties: { period: { type: "string", enum: ["this_week", "today"] } } }) as JsonObject;
    expect(form.properties).toEqual({
      period: { type: "string", title: "period", oneOf: [{ const: "this_week", title: "this week" }, { const: "today", title: "today" }] },
    });
  });

  it("a discriminated union is one object: shared properties, the operator, then what it needs", () => {
    const attribute = TYPES.find(([name]) => name === "attribute")![1];
    const form = formSchema(attribute.schema) as JsonObject;
    const properties = form.properties as JsonObject;
    expect(Object.keys(properties)).toEqual(["field", "op"]);
    expect(form.required).toEqual(["field", "op"]);
    const ops = ((properties.op as JsonObject).oneOf as JsonObject[]).map((choice) => choice.const);
    expect(ops).toContain("equals");
    expect(ops).toContain("within_last");
    const branches = ((form.dependencies as JsonObject).op as JsonObject).oneOf as JsonObject[];
    const inBranch = branches.find((b) => JSON.stringify((b.properties as JsonObject).op).includes('"in"'))!;
    expect(Object.keys(inBranch.properties as JsonObject)).toEqual(["op", "values", "case_insensitive"]);
    expect(pruneToBranch(form, { field: "plan", op: "in", value: "pro", values: ["pro"] })).toEqual({ field: "plan", op: "in", values: ["pro"] });
  });
});

describe("completions", () => {
  it("the tenant's names by kind, from GET /fields", () => {
    const fields = {
      attributes: [{ path: "attributes.plan" }, { path: "attributes.custom.tier" }, { path: "scores.nps" }, { path: "tags.vip" }, { path: "lists.news" }],
      events: [{ name: "purchase" }],
    };
    expect(completionsOf(fields)).toEqual({ attributes: ["plan", "custom.tier"], events: ["purchase"], scores: ["nps"], tags: ["vip"], lists: ["news"] });
  });

  it("attribute fields, event names and score names of the catalog offer the tenant's names", () => {
    const offered = new Map<string, Set<string>>();
    for (const [name, entry] of TYPES) {
      walk(formSchema(entry.schema, NONE), (node, key) => {
        const examples = Array.isArray(node.examples) ? node.examples : (node.items as JsonObject | undefined)?.examples;
        if (key === null || !Array.isArray(examples)) return;
        const kind = Object.entries(NONE).find(([, names]) => JSON.stringify(names) === JSON.stringify(examples))?.[0];
        if (kind) offered.set(kind, new Set([...(offered.get(kind) ?? []), `${name}.${key}`]));
      });
    }
    expect([...(offered.get("attributes") ?? [])]).toEqual(["attribute.field"]);
    expect([...(offered.get("events") ?? [])].sort()).toEqual(["event.name", "event_first_last.name", "event_sequence.name", "event_without.name"]);
    expect([...(offered.get("scores") ?? [])].sort()).toEqual(["score.name", "score_band.name"]);
    expect([...(offered.get("tags") ?? [])]).toEqual(["tag.tags"]);
    expect([...(offered.get("lists") ?? [])]).toEqual(["list.lists"]);
  });

  it("no names, no examples added; other parameters are not offered names", () => {
    expect(completionKind("name", { type: "string", description: "The campaign's name" })).toBeNull();
    expect(completionKind("field", { type: "integer" })).toBeNull();
    const empty: Completions = { attributes: [], events: [], scores: [], tags: [], lists: [] };
    const score = TYPES.find(([name]) => name === "score")![1];
    expect(((formSchema(score.schema, empty) as JsonObject).properties as JsonObject).name).toEqual(
      ((formSchema(score.schema) as JsonObject).properties as JsonObject).name,
    );
  });
});

describe("fieldHint", () => {
  it("durations get their format, numbers their bounds, the rest nothing", () => {
    const email = formSchema(TYPES.find(([name]) => name === "email")![1].schema) as JsonObject;
    const properties = email.properties as Record<string, JsonObject>;
    expect(fieldHint(properties.within)).toBe("e.g. 7d, 24h, 90m");
    expect(fieldHint(properties.min_count)).toBe("0 to 1,000,000");
    expect(fieldHint(properties.action)).toBeNull();
    expect(fieldHint({ type: "integer", minimum: 1 })).toBe("at least 1");
    expect(fieldHint({ type: "number", maximum: 5 })).toBe("at most 5");
  });
});

describe("describeParams", () => {
  it("an example in words: names humanized, choices in words, ids and paths as written", () => {
    const attribute = formSchema(TYPES.find(([name]) => name === "attribute")![1].schema);
    expect(describeParams({ field: "signup_date", op: "within_last", amount: 7, unit: "days" }, attribute)).toBe(
      "field signup_date, operator within last, amount 7, unit days",
    );
    const email = formSchema(TYPES.find(([name]) => name === "email")![1].schema);
    expect(describeParams({ action: "clicked", campaign_id: "cmp_q4", min_count: 1 }, email)).toBe("action clicked, campaign id cmp_q4, min count 1");
    expect(describeParams({}, email)).toBe("as it is");
  });
});
