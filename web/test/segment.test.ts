import { describe, expect, it } from "vitest";

import { ApiError, type BackfillProgress, inUseBy, type Segment, type Transition } from "../src/api";
import {
  breakdown,
  definitionWith,
  describeError,
  FEED_CAP,
  feedTime,
  fillFraction,
  firstPage,
  historySeries,
  mergeFeed,
  nextPage,
  parseContactIds,
  previousPage,
  problemsByList,
  rebaseManual,
  sinceFor,
  sizeChange,
  withIds,
} from "../src/segment/logic";

const hour = (h: number) => `2026-11-28T${String(h).padStart(2, "0")}:00:00Z`;
const seconds = (iso: string) => Date.parse(iso) / 1000;

describe("historySeries", () => {
  it("is empty without points", () => {
    expect(historySeries([], "hour")).toEqual([[], []]);
  });

  it("has one x per hour from the first point to the last, a gap where none was recorded", () => {
    const points = [
      { at: hour(10), count: 5 },
      { at: hour(13), count: 8 },
      { at: hour(11), count: 0 },
    ];
    expect(historySeries(points, "hour")).toEqual([
      [seconds(hour(10)), seconds(hour(11)), seconds(hour(12)), seconds(hour(13))],
      [5, 0, null, 8],
    ]);
  });

  it("steps a day at the day resolution", () => {
    const points = [
      { at: "2026-11-01T00:00:00Z", count: 1 },
      { at: "2026-11-03T00:00:00Z", count: 3 },
    ];
    const [xs, ys] = historySeries(points, "day");
    expect(xs).toEqual([seconds("2026-11-01T00:00:00Z"), seconds("2026-11-02T00:00:00Z"), seconds("2026-11-03T00:00:00Z")]);
    expect(ys).toEqual([1, null, 3]);
  });
});

describe("sinceFor", () => {
  const now = new Date("2026-11-28T22:47:13Z");

  it("starts two days of hours back, on an hour", () => {
    expect(sinceFor("hour", now)).toBe("2026-11-26T22:00:00.000Z");
  });

  it("starts ninety days back, on a UTC day", () => {
    expect(sinceFor("day", now)).toBe("2026-08-30T00:00:00.000Z");
  });
});

const transition = (contact: string, at: string, kind: "enter" | "exit" = "enter"): Transition => ({
  contact_id: contact,
  kind,
  at,
  segment_version: 1,
});

describe("mergeFeed", () => {
  it("puts a newer page on top, newest first", () => {
    const shown = [transition("a", hour(2)), transition("b", hour(1))];
    const newer = [transition("d", hour(4)), transition("c", hour(3))];
    expect(mergeFeed(shown, newer).map((t) => t.contact_id)).toEqual(["d", "c", "a", "b"]);
  });

  it("keeps a transition once when a poll returns it again", () => {
    const shown = [transition("a", hour(2))];
    const merged = mergeFeed(shown, [transition("a", hour(2)), transition("a", hour(2), "exit")]);
    expect(merged.map((t) => t.kind)).toEqual(["enter", "exit"]);
  });

  it("keeps only the newest", () => {
    const many = Array.from({ length: FEED_CAP + 30 }, (_, i) => transition(`c${i}`, new Date(Date.UTC(2026, 10, 1, 0, 0, i)).toISOString()));
    const merged = mergeFeed([], many);
    expect(merged).toHaveLength(FEED_CAP);
    expect(merged[0].contact_id).toBe(`c${FEED_CAP + 29}`);
    expect(merged[FEED_CAP - 1].contact_id).toBe("c30");
  });
});

describe("member pages", () => {
  it("go forward with each page's cursor and back to where they were", () => {
    const second = nextPage(firstPage, "p2");
    const third = nextPage(second, "p3");
    expect(third).toEqual([null, "p2", "p3"]);
    expect(previousPage(third)).toEqual(second);
    expect(previousPage(previousPage(third))).toEqual(firstPage);
    expect(previousPage(firstPage)).toEqual(firstPage);
  });
});

describe("parseContactIds", () => {
  it("splits on commas, spaces and lines, each id once", () => {
    expect(parseContactIds(" c1, c2\nc3  c1;c4 ")).toEqual({ ids: ["c1", "c2", "c3", "c4"], invalid: [] });
  });

  it("names what the API would refuse", () => {
    const long = "x".repeat(257);
    expect(parseContactIds(`c1 c#2 ${long}`)).toEqual({ ids: ["c1"], invalid: ["c#2", long] });
  });

  it("adds to a list without repeating", () => {
    expect(withIds(["c1", "c2"], ["c2", "c3"])).toEqual(["c1", "c2", "c3"]);
  });
});

const segment: Segment = {
  id: "vip",
  version: 3,
  name: "VIP",
  description: "big spenders",
  type: "shared",
  status: "active",
  rule: { score: { name: "nps", gte: 9 } },
  exclude_segments: ["churned"],
  include_contacts: ["c1"],
  exclude_contacts: [],
  created_at: "2026-11-01T00:00:00Z",
  updated_at: "2026-11-02T00:00:00Z",
  created_by: "ana",
  updated_by: "bob",
  teams: [],
  count: 12,
  backfill_progress: null,
};

describe("definitionWith", () => {
  it("is the whole definition with the new lists, none of the read-only fields", () => {
    expect(definitionWith(segment, { include_contacts: ["c1", "c2"], exclude_contacts: ["c9"] })).toEqual({
      id: "vip",
      name: "VIP",
      type: "shared",
      description: "big spenders",
      rule: { score: { name: "nps", gte: 9 } },
      exclude_segments: ["churned"],
      include_contacts: ["c1", "c2"],
      exclude_contacts: ["c9"],
    });
  });

  it("keeps a static segment's rule null", () => {
    expect(definitionWith({ ...segment, type: "static", rule: null }, { include_contacts: [], exclude_contacts: [] }).rule).toBeNull();
  });
});

describe("rebaseManual", () => {
  it("re-applies what was added and removed to a newer version's lists", () => {
    const was = { include_contacts: ["c1", "c2"], exclude_contacts: ["c8"] };
    const edited = { include_contacts: ["c2", "c3"], exclude_contacts: ["c8", "c9"] };
    const now = { include_contacts: ["c1", "c2", "c5"], exclude_contacts: [] };
    expect(rebaseManual(was, edited, now)).toEqual({ include_contacts: ["c2", "c5", "c3"], exclude_contacts: ["c9"] });
  });
});

describe("breakdown", () => {
  it("lists the categories in order with their share of all", () => {
    const rows = breakdown({ all: 40, addressable: 30, bounced: 4, unsubscribed: 6, spam: 0, no_email: 2 });
    expect(rows.map((row) => [row.key, row.label, row.count, row.share])).toEqual([
      ["addressable", "addressable", 30, 0.75],
      ["bounced", "bounced", 4, 0.1],
      ["unsubscribed", "unsubscribed", 6, 0.15],
      ["spam", "marked as spam", 0, 0],
      ["no_email", "no email address", 2, 0.05],
    ]);
  });

  it("shows a category the API adds, and zero shares for an empty snapshot", () => {
    const rows = breakdown({ all: 0, complained_twice: 0 });
    expect(rows.map((row) => row.key)).toContain("complained_twice");
    expect(rows.every((row) => row.share === 0)).toBe(true);
  });
});

// Cast: the API's progress may carry more fields (when a save queued it) than these tests need.
const progress = (status: "running" | "complete", finished: number): BackfillProgress =>
  ({
    status,
    contacts_done: 100,
    entered: 5,
    exited: 1,
    slices_finished: finished,
    slices: 4,
    started_at: "2026-11-28T10:00:00Z",
    finished_at: status === "complete" ? "2026-11-28T10:01:00Z" : null,
  }) as BackfillProgress;

describe("fillFraction", () => {
  it("counts finished slices", () => {
    expect(fillFraction(progress("running", 1))).toBe(0.25);
    expect(fillFraction(progress("complete", 4))).toBe(1);
    expect(fillFraction({ ...progress("running", 0), slices: 0 })).toBe(0);
  });
});

describe("describeError", () => {
  it("gives the API's message and each detail with its field", () => {
    const error = new ApiError(422, "invalid request", [
      { location: "body", path: "/include_contacts/0", message: "no '#' allowed" },
      { location: "body", path: "", message: "invalid request" },
    ]);
    expect(describeError(error)).toBe("invalid request; /include_contacts/0: no '#' allowed");
  });

  it("gives any other error's message", () => {
    expect(describeError(new TypeError("Failed to fetch"))).toBe("Failed to fetch");
  });
});

describe("feedTime", () => {
  const now = new Date(2026, 10, 28, 22, 0, 0);

  it("is the clock time for today", () => {
    const at = new Date(2026, 10, 28, 9, 5, 7);
    expect(feedTime(at.toISOString(), now)).toBe(at.toLocaleTimeString());
  });

  it("carries the date for an earlier day", () => {
    const at = new Date(2026, 10, 27, 23, 59, 0);
    expect(feedTime(at.toISOString(), now)).toBe(at.toLocaleString());
  });
});

describe("sizeChange", () => {
  it("needs two points", () => {
    expect(sizeChange([])).toBeNull();
    expect(sizeChange([{ at: hour(1), count: 5 }])).toBeNull();
  });

  it("compares the last point with the first", () => {
    expect(sizeChange([{ at: hour(1), count: 200 }, { at: hour(2), count: 150 }, { at: hour(3), count: 190 }])).toEqual({
      from: { at: hour(1), count: 200 },
      to: { at: hour(3), count: 190 },
      delta: -10,
      ratio: -0.05,
    });
  });

  it("has no ratio from an empty segment", () => {
    expect(sizeChange([{ at: hour(1), count: 0 }, { at: hour(2), count: 7 }])?.ratio).toBeNull();
  });
});

describe("problemsByList", () => {
  it("puts each detail beside the list its pointer is in, the rest together", () => {
    const error = new ApiError(422, "invalid request", [
      { location: "body", path: "/include_contacts/3", message: "too long" },
      { location: "body", path: "/exclude_contacts", message: "at most 1000 items" },
      { location: "body", path: "/include_contacts/7", message: "no '#' allowed" },
      { location: "body", path: "/include_contacts_extra", message: "not allowed" },
      { location: "body", path: "", message: "bad body" },
    ]);
    expect(problemsByList(error)).toEqual({
      include_contacts: "/include_contacts/3: too long; /include_contacts/7: no '#' allowed",
      exclude_contacts: "/exclude_contacts: at most 1000 items",
      other: "/include_contacts_extra: not allowed; bad body",
    });
  });

  it("gives the message when the API names no detail", () => {
    expect(problemsByList(new ApiError(422, "invalid request", []))).toEqual({ other: "invalid request" });
  });
});

describe("inUseBy", () => {
  it("names the modules of the API's in-use refusal, and nothing for any other error", () => {
    const inUse = new ApiError(409, "segment is in use by 2 module(s)", [
      { location: "query", path: "/confirm", message: "in use by campaign:spring" },
      { location: "query", path: "/confirm", message: "in use by journey:onboarding" },
    ]);
    expect(inUseBy(inUse)).toEqual(["campaign:spring", "journey:onboarding"]);
    const stale = new ApiError(409, "segment is at version 3, not 2", [{ location: "body", path: "/version", message: "current version is 3" }]);
    expect(inUseBy(stale)).toBeNull();
    expect(inUseBy(new ApiError(422, "bad", [{ location: "query", path: "/confirm", message: "x" }]))).toBeNull();
    expect(inUseBy(new Error("offline"))).toBeNull();
  });
});
