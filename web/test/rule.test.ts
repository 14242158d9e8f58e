import { describe, expect, it } from "vitest";
import type { RuleGroupType, RuleType } from "react-querybuilder";

import catalog from "./fixtures/condition-types.json";
import { aloneByNode, JSONLOGIC, type Json, nodeForPointer, normalPointers, parseIds, place, pointerWithin, queryToRule, ruleToQuery, rulePointer, SEGMENT } from "../src/rule";

const TYPES = catalog.map((entry) => entry.name);

function roundTrip(rule: Json): Json | null {
  return queryToRule(ruleToQuery(rule, TYPES)).rule;
}

function leaf(query: RuleGroupType, ...path: number[]): RuleType {
  let node: RuleGroupType | RuleType = query;
  for (const index of path) node = (node as RuleGroupType).rules[index] as RuleGroupType | RuleType;
  return node as RuleType;
}

describe("every catalog example", () => {
  const examples = catalog.flatMap((entry) => entry.examples.map((example) => [entry.name, example] as const));

  it("the fixture is the whole catalog", () => {
    expect(TYPES.length).toBeGreaterThanOrEqual(26);
    expect(examples.length).toBeGreaterThanOrEqual(TYPES.length);
  });

  it.each(examples)("%s: %j is one condition rule and round-trips", (name, example) => {
    const query = ruleToQuery(example as Json, TYPES);
    expect(query.rules).toHaveLength(1);
    expect(leaf(query, 0)).toMatchObject({ field: name, value: (example as Record<string, Json>)[name] });
    expect(roundTrip(example as Json)).toEqual(example);
  });

  it("all examples under one or, negated, round-trip", () => {
    const rule: Json = { "!": { or: examples.map(([, example]) => example as Json) } };
    const query = ruleToQuery(rule, TYPES);
    expect(query.not).toBe(true);
    expect(query.combinator).toBe("or");
    expect(query.rules).toHaveLength(examples.length);
    expect(roundTrip(rule)).toEqual(rule);
  });
});

describe("logic", () => {
  const email = { email: { action: "opened", within: "30d" } };
  const plan = { attribute: { field: "plan", op: "equals", value: "pro" } };
  const score = { score: { name: "nps", gte: 9 } };

  it("nested and / or / not keep their shape", () => {
    const rule: Json = { and: [email, { or: [plan, { "!": score }] }, { "!": { and: [plan, score] } }] };
    const query = ruleToQuery(rule, TYPES);
    expect(query.combinator).toBe("and");
    const inner = query.rules[1] as RuleGroupType;
    expect(inner.combinator).toBe("or");
    expect((inner.rules[1] as RuleGroupType).not).toBe(true);
    expect((query.rules[2] as RuleGroupType).not).toBe(true);
    expect(roundTrip(rule)).toEqual(rule);
  });

  it("'not', the list form of '!' and '!!' come back in the engine's normal form", () => {
    expect(roundTrip({ not: email })).toEqual({ "!": email });
    expect(roundTrip({ "!": [email] })).toEqual({ "!": email });
    expect(roundTrip({ "!": { "!": email } })).toEqual(email);
    expect(roundTrip({ and: [{ not: [plan] }, score] })).toEqual({ and: [{ "!": plan }, score] });
  });

  it("a one-child group is its child, and empty groups or untyped rules are left out", () => {
    const query: RuleGroupType = {
      combinator: "and",
      rules: [
        { combinator: "or", rules: [] },
        { combinator: "or", rules: [{ field: "email", operator: "matches", value: email.email }] },
        { field: "~", operator: "matches", value: "" },
        { field: "score", operator: "matches", value: score.score },
      ],
    };
    expect(queryToRule(query).rule).toEqual({ and: [email, score] });
    expect(queryToRule({ combinator: "and", rules: [{ combinator: "or", rules: [] }] }).rule).toBeNull();
  });

  it("an empty rule is an empty tree and back", () => {
    expect(ruleToQuery(null, TYPES)).toMatchObject({ combinator: "and", rules: [] });
    expect(queryToRule(ruleToQuery(null, TYPES)).rule).toBeNull();
  });
});

describe("segment references and plain JsonLogic", () => {
  it("a segment reference is a rule of its own", () => {
    const rule: Json = { and: [{ segment: { id: "vip" } }, { "!": { segment: { id: "churned" } } }] };
    const query = ruleToQuery(rule, TYPES);
    expect(leaf(query, 0)).toMatchObject({ field: SEGMENT, value: { id: "vip" } });
    expect(roundTrip(rule)).toEqual(rule);
  });

  it.each([
    { in: ["premium", { var: "tags" }] },
    { "==": [{ var: "email" }, "a@example.com"] },
    { ">=": [{ var: "custom.ltv" }, 1000] },
    { some: [{ var: "items" }, { ">": [{ var: "price" }, 10] }] },
    { if: [{ var: "a" }, true, false] },
    { "!!": [{ var: "phone" }] },
    { and: "not a list" },
    { "!": [1, 2] },
    true,
    { unknown_plugin_type: { x: 1 } },
    { attribute: { field: "plan" }, extra: 1 },
  ] as Json[])("%j is kept whole as an editable JsonLogic leaf", (plain) => {
    const query = ruleToQuery(plain, TYPES);
    expect(leaf(query, 0)).toMatchObject({ field: JSONLOGIC, value: plain });
    expect(roundTrip(plain)).toEqual(plain);
    const mixed = { or: [plain, { score: { name: "nps", gte: 9 } }] };
    expect(roundTrip(mixed)).toEqual(mixed);
  });
});

describe("JSON pointers name tree nodes", () => {
  const query: RuleGroupType = {
    combinator: "and",
    rules: [
      { combinator: "or", rules: [] },
      { field: "score", operator: "matches", value: { name: "nps", gtee: 9 } },
      {
        combinator: "or",
        not: true,
        rules: [
          { field: "email", operator: "matches", value: { action: "opened" } },
          { field: JSONLOGIC, operator: "matches", value: { in: ["x", { var: "tags" }] } },
        ],
      },
      { combinator: "and", not: true, rules: [{ field: "tag", operator: "matches", value: { tags: [] } }] },
    ],
  };
  const { rule, pointers } = queryToRule(query);

  it("the exported rule skips the empty group, so pointers shift and still find their node", () => {
    expect(rule).toEqual({
      and: [
        { score: { name: "nps", gtee: 9 } },
        { "!": { or: [{ email: { action: "opened" } }, { in: ["x", { var: "tags" }] }] } },
        { "!": { tag: { tags: [] } } },
      ],
    });
  });

  it.each([
    ["/and/0/score/gtee", "1"],
    ["/and/0", "1"],
    ["/and/1/!/or/0/email/within", "2.0"],
    ["/and/1/!/or/1/in/1/var", "2.1"],
    ["/and/1/!/or", "2"],
    ["/and/1", "2"],
    ["/and/2/!/tag/tags", "3.0"],
    ["/and/7", ""],
    ["", ""],
  ])("%s names node %s", (pointer, path) => {
    expect(nodeForPointer(pointers, pointer)).toBe(path);
  });

  it("a pointer prefix must end at a token boundary", () => {
    const many: RuleGroupType = {
      combinator: "and",
      rules: Array.from({ length: 12 }, () => ({ field: "score", operator: "matches", value: { name: "nps" } })),
    };
    expect(nodeForPointer(queryToRule(many).pointers, "/and/11/score")).toBe("11");
    expect(nodeForPointer(queryToRule(many).pointers, "/and/1/score")).toBe("1");
    const two = queryToRule({ ...many, rules: many.rules.slice(0, 2) });
    expect(nodeForPointer(two.pointers, "/and/10")).toBe("");
  });

  it("where in its node a pointer points, in parameter names", () => {
    expect(pointerWithin(pointers, "/and/1/!/or/0/email/within", "2.0")).toEqual(["within"]);
    expect(pointerWithin(pointers, "/and/0/score/gtee", "1")).toEqual(["gtee"]);
    expect(pointerWithin(pointers, "/and/0", "1")).toEqual([]);
    expect(pointerWithin(pointers, "/and/1", "2")).toEqual([]);
    expect(pointerWithin(pointers, "/and/2/!/tag/tags/0", "3.0")).toEqual(["tags", "0"]);
  });

  it("a root condition takes the errors pointing into it", () => {
    const single = queryToRule(ruleToQuery({ score: { name: "nps", gtee: 9 } }, TYPES));
    expect(nodeForPointer(single.pointers, "/score/gtee")).toBe("0");
  });

  it("request-body pointers become rule pointers", () => {
    expect(rulePointer("/rule/and/0")).toBe("/and/0");
    expect(rulePointer("/rule")).toBe("");
    expect(rulePointer("/rules")).toBeNull();
    expect(rulePointer("/name")).toBeNull();
  });
});

describe("pointers into the engine's normal form", () => {
  const score = { score: { name: "nps", gte: 9 } };
  const tag = { tag: { tags: ["vip"] } };
  const email = { email: { action: "opened" } };
  const list = { list: { lists: ["x"] } };
  const rule: Json = { and: [score, { and: [tag, { or: [email, { "!": { "!": list } }] }] }, { "!": { or: [{ or: [tag, email] }] } }] };
  /** What the engine's normalize returned for `rule` (core/rules.py, run once and copied here). */
  const normalized: Json = {
    and: [score, tag, { or: [email, list] }, { "!": { or: [tag, email] } }],
  };

  function at(json: Json, pointer: string): Json {
    return pointer
      .split("/")
      .slice(1)
      .reduce<Json>((node, token) => (Array.isArray(node) ? node[Number(token)] : (node as Record<string, Json>)[token]), json);
  }

  it("and-in-and is flattened and !! dropped, as the engine does", () => {
    const query = ruleToQuery(rule, TYPES);
    const pointers = normalPointers(query);
    expect(Object.fromEntries(pointers)).toEqual({
      "": "",
      "/and/0": "0",
      "/and/1": "1.0",
      "/and/2": "1.1",
      "/and/2/or/0": "1.1.0",
      "/and/2/or/1": "1.1.1",
      "/and/3": "2",
      "/and/3/!": "2",
      "/and/3/!/or/0": "2.0.0",
      "/and/3/!/or/1": "2.0.1",
    });
    for (const [pointer, path] of pointers) {
      const node = path.split(".").reduce<RuleGroupType | RuleType>((n, i) => (i === "" ? n : ((n as RuleGroupType).rules[Number(i)] as RuleType)), query);
      if ("field" in node) expect(at(normalized, pointer)).toEqual({ [node.field]: node.value as Json });
    }
  });

  it("a negated negation in the tree is its child", () => {
    const leafOnly = { field: "score", operator: "matches", value: score.score };
    const query: RuleGroupType = { combinator: "and", not: true, rules: [{ combinator: "and", not: true, rules: [leafOnly] }] };
    expect(Object.fromEntries(normalPointers(query))).toEqual({ "": "0.0" });
  });

  it("nothing to send, no pointers", () => {
    expect(normalPointers({ combinator: "and", rules: [] }).size).toBe(0);
  });
});

describe("the API's answers on the tree", () => {
  const email = { email: { action: "opened", within: "30d" } };
  const tag = { tag: { tags: ["vip"] } };
  const query = ruleToQuery({ and: [email, { or: [tag, email] }] }, TYPES);
  const { pointers } = queryToRule(query);

  it("errors go on the node they name, worded by the parameter they point at; the rest are listed", () => {
    const [byNode, elsewhere] = place(
      [
        { path: "/rule/and/0/email/within", message: "not a duration" },
        { path: "/rule/and/1/or/0/tag/tags/1", message: "too long", suggestion: "did you mean 'vip'?" },
        { path: "/rule/and/1", message: "a group problem" },
        { path: "/name", message: "required" },
      ],
      pointers,
      true,
    );
    expect(Object.fromEntries(byNode)).toEqual({
      "0": [{ message: "within: not a duration", suggestion: undefined }],
      "1.0": [{ message: "tags › #2: too long", suggestion: "did you mean 'vip'?" }],
      "1": [{ message: "a group problem", suggestion: undefined }],
    });
    expect(elsewhere).toEqual(["/name: required"]);
  });

  it("warnings point into the normal form, not into the body", () => {
    const [byNode] = place([{ path: "/and/1/or/1", message: "no event", suggestion: null }], normalPointers(query), false);
    expect([...byNode.keys()]).toEqual(["1.1"]);
  });

  it("each top-level condition's size goes beside it; a rule of one condition has none (it is the total)", () => {
    const entries = [
      { path: "/rule/and/0", estimate: 5 },
      { path: "/rule/and/1", estimate: 9 },
    ];
    expect(Object.fromEntries(aloneByNode(entries, pointers))).toEqual({ "0": entries[0], "1": entries[1] });
    expect(aloneByNode([entries[0]], pointers).size).toBe(0);
    expect(aloneByNode(null, pointers).size).toBe(0);
  });

  it("contact ids as pasted: lines, commas, spaces; each once", () => {
    expect(parseIds("c1\nc2, c3;c4  c1\n\n")).toEqual(["c1", "c2", "c3", "c4"]);
    expect(parseIds("  ")).toEqual([]);
  });
});
