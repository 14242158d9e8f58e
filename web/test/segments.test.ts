import { describe, expect, it } from "vitest";

import type { ConditionType, Segment, Template } from "../src/api";
import {
  eachLimited,
  filterSegments,
  fillingOf,
  isFilling,
  lastChangeOf,
  matchesSearch,
  sortSegments,
  timeAgo,
  trendOf,
  trendSince,
} from "../src/pages/segmentList";
import type { Json } from "../src/rule";
import { categoryTitle, conditionLabels, galleryOf, summarizeRule } from "../src/pages/templateList";
import { sparklinePoints } from "../src/sparkline";
import catalogJson from "./fixtures/condition-types.json";
import templatesJson from "./fixtures/templates.json";

const catalog = catalogJson as unknown as ConditionType[];
const templates = templatesJson as unknown as Template[];

function segment(id: string, fields: Partial<Segment> = {}): Segment {
  return {
    id,
    version: 1,
    name: id,
    description: "",
    type: "shared",
    status: "active",
    rule: {},
    exclude_segments: [],
    include_contacts: [],
    exclude_contacts: [],
    created_at: null,
    updated_at: null,
    ...fields,
  } as Segment;
}

const progress = (status: "queued" | "running" | "complete", fields: Record<string, unknown> = {}) =>
  ({
    status,
    contacts_done: 0,
    entered: 0,
    exited: 0,
    slices_finished: 0,
    slices: 16,
    queued_at: "2026-11-28T10:00:00Z",
    started_at: null,
    finished_at: null,
    ...fields,
  }) as Segment["backfill_progress"];

describe("search and filter", () => {
  const vip = segment("vip_customers", { name: "VIP customers", description: "Spent over 1000 € — Célia's list" });
  const churn = segment("churn", { name: "At risk", type: "pinned" });
  const list = segment("imported", { name: "Imported list", type: "static" });

  it("finds by name, id or description, every word, ignoring case and accents", () => {
    expect(matchesSearch(vip, "vip")).toBe(true);
    expect(matchesSearch(vip, "VIP_CUST")).toBe(true);
    expect(matchesSearch(vip, "celia")).toBe(true);
    expect(matchesSearch(vip, "  spent   list ")).toBe(true);
    expect(matchesSearch(vip, "spent churn")).toBe(false);
    expect(matchesSearch(churn, "")).toBe(true);
  });

  it("keeps the rows of one type, in their order", () => {
    expect(filterSegments([vip, churn, list], "", "all").map((s) => s.id)).toEqual(["vip_customers", "churn", "imported"]);
    expect(filterSegments([vip, churn, list], "", "pinned").map((s) => s.id)).toEqual(["churn"]);
    expect(filterSegments([vip, churn, list], "list", "static").map((s) => s.id)).toEqual(["imported"]);
    expect(filterSegments([vip, churn, list], "list", "shared").map((s) => s.id)).toEqual(["vip_customers"]);
  });
});

describe("sorting", () => {
  const rows = [
    segment("b", { name: "Beta", count: 5 }),
    segment("a", { name: "Alpha", count: 5 }),
    segment("c", { name: "Gamma", count: 900 }),
    segment("d", { name: "Delta", count: null }),
  ];
  const changed: Record<string, string | null> = { a: "2026-11-01T00:00:00Z", b: "2026-11-20T00:00:00Z", c: null, d: "2026-11-20T00:00:00Z" };

  it("by name, by most members (ties by name, unknown counts last) and by latest change", () => {
    expect(sortSegments(rows, "name").map((s) => s.id)).toEqual(["a", "b", "d", "c"]);
    expect(sortSegments(rows, "members").map((s) => s.id)).toEqual(["c", "a", "b", "d"]);
    expect(sortSegments(rows, "changed", (s) => changed[s.id]).map((s) => s.id)).toEqual(["b", "d", "a", "c"]);
    expect(rows.map((s) => s.id)).toEqual(["b", "a", "c", "d"]);
  });
});

describe("filling", () => {
  it("says what a marketer waits for", () => {
    expect(fillingOf(segment("x"))).toEqual({ state: "live" });
    expect(fillingOf(segment("x", { status: "archived", backfill_progress: progress("queued") }))).toEqual({ state: "archived" });
    expect(fillingOf(segment("x", { backfill_progress: progress("queued") }))).toEqual({ state: "queued", since: "2026-11-28T10:00:00Z" });
    expect(fillingOf(segment("x", { backfill_progress: progress("running", { contacts_done: 1200, slices_finished: 3 }) }))).toEqual({
      state: "running",
      done: 1200,
      slicesFinished: 3,
      slices: 16,
    });
    expect(fillingOf(segment("x", { backfill_progress: progress("complete", { finished_at: "2026-11-28T10:05:00Z" }) }))).toEqual({
      state: "filled",
      at: "2026-11-28T10:05:00Z",
    });
    expect([progress("queued"), progress("running"), progress("complete"), null].map((p) => isFilling(segment("x", { backfill_progress: p })))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});

describe("time", () => {
  const now = new Date("2026-11-28T12:00:00Z");
  it("says how long ago", () => {
    expect(timeAgo("2026-11-28T11:59:30Z", now)).toBe("just now");
    expect(timeAgo("2026-11-28T12:00:20Z", now)).toBe("just now");
    expect(timeAgo("2026-11-28T11:55:00Z", now)).toBe("5 minutes ago");
    expect(timeAgo("2026-11-28T09:00:00Z", now)).toBe("3 hours ago");
    expect(timeAgo("2026-11-27T12:00:00Z", now)).toBe("yesterday");
    expect(timeAgo("2026-10-01T12:00:00Z", now)).toBe("last month");
    expect(timeAgo("not a time", now)).toBe("not a time");
  });

  it("keeps the daily sizes of the last 30 days from the start of that day", () => {
    expect(trendSince(now)).toBe("2026-10-29T00:00:00Z");
    const points = [
      { at: "2026-10-28T00:00:00Z", count: 1 },
      { at: "2026-10-29T00:00:00Z", count: 10 },
      { at: "2026-11-27T00:00:00Z", count: 14 },
      { at: "2026-11-28T00:00:00Z", count: 12 },
    ];
    expect(trendOf(points, now)).toEqual({ values: [10, 14, 12], change: 2, first: "2026-10-29T00:00:00Z" });
    expect(trendOf(points.slice(3), now)).toEqual({ values: [12], change: null, first: "2026-11-28T00:00:00Z" });
    expect(trendOf([], now)).toEqual({ values: [], change: null, first: null });
  });
});

describe("last change", () => {
  it("is the later of the last member change and the last save, saying which", () => {
    const saved = "2026-11-20T10:00:00Z";
    expect(lastChangeOf(saved, "2026-11-27T08:00:00Z")).toEqual({ kind: "members", at: "2026-11-27T08:00:00Z" });
    expect(lastChangeOf(saved, "2026-11-19T08:00:00Z")).toEqual({ kind: "definition", at: saved });
    expect(lastChangeOf(saved, null)).toEqual({ kind: "definition", at: saved });
    expect(lastChangeOf(null, "2026-11-19T08:00:00Z")).toEqual({ kind: "members", at: "2026-11-19T08:00:00Z" });
    expect(lastChangeOf(null, undefined)).toBeNull();
  });
});

describe("sparkline scaling", () => {
  it("puts the largest value at the top, the smallest at the bottom, evenly spaced", () => {
    expect(sparklinePoints([0, 10, 5], 104, 24, 2)).toBe("2,22 52,2 102,12");
  });

  it("draws a flat series across the middle and nothing for fewer than two values", () => {
    expect(sparklinePoints([7, 7, 7, 7], 32, 20, 2)).toBe("2,10 11.3,10 20.7,10 30,10");
    expect(sparklinePoints([3], 100, 20)).toBe("");
    expect(sparklinePoints([], 100, 20)).toBe("");
  });
});

describe("at most N requests at once", () => {
  it("runs every item, never more than the limit together", async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const items = Array.from({ length: 50 }, (_, n) => n);
    await eachLimited(items, 4, async (n) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, n % 3));
      done.push(n);
      running -= 1;
    });
    expect(most).toBe(4);
    expect([...done].sort((a, b) => a - b)).toEqual(items);
  });

  it("starts nothing new once aborted", async () => {
    const controller = new AbortController();
    const started: number[] = [];
    await eachLimited(
      Array.from({ length: 20 }, (_, n) => n),
      2,
      async (n) => {
        started.push(n);
        if (n === 3) controller.abort();
        await Promise.resolve();
      },
      controller.signal,
    );
    expect(started).toEqual([0, 1, 2, 3]);
  });
});

describe("templates gallery", () => {
  it("puts every template's rule in words, with the catalog's labels and no raw JsonLogic", () => {
    for (const template of templates) {
      const labels = conditionLabels(summarizeRule(template.rule, catalog));
      expect(labels.length, template.id).toBeGreaterThan(0);
      expect(JSON.stringify(summarizeRule(template.rule, catalog)), template.id).not.toContain('"kind":"logic"');
    }
  });

  it("words a nested rule, negations, segment references and plain JsonLogic", () => {
    const rule: Json = {
      and: [
        { score: { name: "nps", gte: 9 } },
        { or: [{ "!": [{ tag: { name: "vip" } }] }, { segment: { id: "churn" } }] },
        { in: ["x", { var: "tags" }] },
      ],
    };
    const summary = summarizeRule(rule, catalog);
    expect(summary).toMatchObject({
      kind: "all",
      children: [
        { kind: "condition", name: "score", label: "Score" },
        { kind: "any", children: [{ kind: "not", child: { kind: "condition", name: "tag", label: "Tag" } }, { kind: "segment", id: "churn" }] },
        { kind: "logic", text: '{"in":["x",{"var":"tags"}]}' },
      ],
    });
    expect(conditionLabels(summary)).toEqual(["Score", "Tag"]);
    const score = (summary as { children: { detail: string }[] }).children[0];
    expect(score.detail).toContain("nps");
    expect(score.detail).toContain("9");
    expect(summarizeRule({ email_opened_last_sent: {} }, catalog)).toMatchObject({ kind: "condition", detail: "" });
  });

  it("groups by category in name order and searches names, descriptions and condition labels", () => {
    const all = galleryOf(templates, catalog, "");
    expect(all.map((c) => c.name)).toEqual([...new Set(templates.map((t) => t.category))].sort());
    expect(all.flatMap((c) => c.templates).length).toBe(templates.length);
    for (const category of all) {
      const names = category.templates.map((t) => t.name);
      expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    }
    expect(all.find((c) => c.name === "rfm")?.title).toBe("RFM");
    const byLabel = galleryOf(templates, catalog, "last activity").flatMap((c) => c.templates.map((t) => t.id));
    expect(byLabel.sort()).toEqual(templates.filter((t) => JSON.stringify(t.rule).includes('"last_activity"')).map((t) => t.id).sort());
    expect(galleryOf(templates, catalog, "NPS promoters").flatMap((c) => c.templates.map((t) => t.id))).toEqual(["promoters"]);
    expect(galleryOf(templates, catalog, "no such thing")).toEqual([]);
  });

  it("titles categories", () => {
    expect(["rfm", "email", "lifecycle_stage"].map(categoryTitle)).toEqual(["RFM", "Email", "Lifecycle stage"]);
  });
});
