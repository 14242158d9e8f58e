/**
 * The audience API as the app uses it. The app holds no data of its own: every call
 * carries the one key it was given, so it sees only that key's tenant.
 *
 * The types come from the API's own OpenAPI document (`openapi.json`, generated
 * into `src/openapi.d.ts` by `npm run types`, which the build runs first), so a
 * route whose answer changes shape fails the app's type check, not a marketer.
 */
import type { components } from "./openapi";
import type { Json, JsonObject } from "./rule";

type Schemas = components["schemas"];
export type ErrorDetail = Schemas["ErrorDetail"];
export type Estimate = Schemas["EstimateOut"];
export type ConditionEstimate = Schemas["ConditionEstimateOut"];
export type Segment = Schemas["SegmentOut"];
export type Usage = Schemas["UsageOut"];
export type SegmentSummary = Segment;
export type BackfillProgress = Schemas["BackfillProgressOut"];
export type HistoryPoint = Schemas["HistoryPoint"];
export type Members = Schemas["MembersOut"];
export type Membership = Schemas["MembershipOut"];
export type Transition = Schemas["TransitionOut"];
export type Transitions = Schemas["TransitionsOut"];
export type Snapshot = Schemas["SnapshotOut"];
export type Snapshots = Schemas["SnapshotListOut"];
export type SnapshotContacts = Schemas["SnapshotContactsOut"];
export type Explanation = Schemas["ExplainOut"];
export type ContactSegments = Schemas["ContactSegmentsOut"];
export type Fields = Schemas["FieldsOut"];
export type Validation = Schemas["ValidateOut"];
export type RuleCount = Schemas["RuleCountOut"];
export type Impact = Schemas["ImpactOut"];
export type CopyStatus = Schemas["CopyStatusOut"];
/** How a draft rule would be saved, as the estimate and the exact count take it. */
export type SavedAs = Partial<Pick<Schemas["EstimateIn"], "type" | "exclude_segments" | "include_contacts" | "exclude_contacts">>;

/** A pre-built segment (`GET /templates`; plugins contribute them). */
export interface Template {
  id: string;
  name: string;
  description: string;
  category: string;
  rule: JsonObject;
}

export interface ConditionType {
  name: string;
  label: string;
  description: string;
  category: string;
  schema: JsonObject;
  examples: JsonObject[];
}

/** A refusal in the API's one error shape (`{"message", "errors": [...]}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: ErrorDetail[],
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

const segmentPath = (id: string) => `segments/${encodeURIComponent(id)}`;

/**
 * The modules a refused change would affect, when the refusal is the API's "in use"
 * 409 (each error located at the `confirm` query parameter); `null` for any other error.
 */
export function inUseBy(error: unknown): string[] | null {
  if (!(error instanceof ApiError) || error.status !== 409) return null;
  const users = error.errors.filter((e) => e.location === "query" && e.path === "/confirm").map((e) => e.message.replace(/^in use by /, ""));
  return users.length ? users : null;
}

export class Api {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  async call<T>(method: string, path: string, body?: Json, signal?: AbortSignal): Promise<T> {
    const response = await fetch(new URL(path, this.base.endsWith("/") ? this.base : `${this.base}/`), {
      method,
      signal,
      headers: { "x-api-key": this.key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let payload: unknown = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      throw new ApiError(response.status, `${method} ${path}: the API answered ${response.status} with no JSON`, []);
    }
    if (!response.ok) {
      const shaped = (payload ?? {}) as { message?: string; errors?: ErrorDetail[] };
      throw new ApiError(response.status, shaped.message ?? `${method} ${path}: ${response.status}`, shaped.errors ?? []);
    }
    return payload as T;
  }

  async conditionTypes(): Promise<ConditionType[]> {
    return (await this.call<{ condition_types: ConditionType[] }>("GET", "condition-types")).condition_types;
  }

  async templates(): Promise<Template[]> {
    return (await this.call<{ templates: Template[] }>("GET", "templates")).templates;
  }

  fields(signal?: AbortSignal): Promise<Fields> {
    return this.call<Fields>("GET", "fields", undefined, signal);
  }

  async segments(query: { include_archived?: boolean; type?: string } = {}): Promise<Segment[]> {
    return (await this.call<Schemas["SegmentListOut"]>("GET", withQuery("segments", query))).segments;
  }

  segment(id: string, signal?: AbortSignal): Promise<Segment> {
    return this.call<Segment>("GET", segmentPath(id), undefined, signal);
  }

  /** `as`: the type, exclusions and manual picks the rule would be saved with (pinned segments, exclusions and picks change its size). */
  estimate(rule: Json, signal: AbortSignal, perCondition = false, as: SavedAs = {}): Promise<Estimate> {
    return this.call<Estimate>("POST", "rules/estimate", { rule, ...as, ...(perCondition ? { per_condition: true } : {}) }, signal);
  }

  /** Whether the tenant has an analytical copy, so that exact counts and impacts can answer. */
  copyStatus(signal?: AbortSignal): Promise<CopyStatus> {
    return this.call<CopyStatus>("GET", "rules/count", undefined, signal);
  }

  /** The exact count of an unsaved rule over the tenant's analytical copy (a 409 when it has none). */
  countRule(rule: Json, signal: AbortSignal, as: SavedAs = {}): Promise<RuleCount> {
    return this.call<RuleCount>("POST", "rules/count", { rule, ...as }, signal);
  }

  /** Who would enter and exit a saved segment if it were saved with this rule and these picks. */
  impact(id: string, edit: { rule: Json; type: string; exclude_segments: string[]; include_contacts: string[]; exclude_contacts: string[] }, signal: AbortSignal): Promise<Impact> {
    return this.call<Impact>("POST", `${segmentPath(id)}/impact`, edit, signal);
  }

  validate(rule: Json, signal?: AbortSignal): Promise<Validation> {
    return this.call<Validation>("POST", "rules/validate", { rule }, signal);
  }

  /**
   * Creates a segment (no `expected_version`) or saves a new version of one (a stale version is a 409;
   * so is a segment other modules use, unless `confirm`: see `inUseBy`).
   */
  save(segment: JsonObject, expectedVersion?: number, confirm = false): Promise<Segment> {
    if (expectedVersion === undefined) return this.call<Segment>("POST", "segments", segment);
    const { id, ...body } = segment;
    const path = withQuery(segmentPath(String(id)), { confirm: confirm || undefined });
    return this.call<Segment>("PUT", path, { ...body, version: expectedVersion });
  }

  /** Archives a segment; one that other modules use is a 409 unless `confirm` (see `inUseBy`). */
  archive(id: string, confirm = false): Promise<Segment> {
    return this.call<Segment>("DELETE", withQuery(segmentPath(id), { confirm: confirm || undefined }));
  }

  /** A deep copy of the segment as a new one (named "<name> (copy)"), backfilled like any save. */
  duplicate(id: string): Promise<Segment> {
    return this.call<Segment>("POST", `${segmentPath(id)}/duplicate`, {});
  }

  /** `since`: the first bucket wanted (default: the API's, 30 days of hours or 400 of days). */
  async history(id: string, resolution: "hour" | "day", signal?: AbortSignal, since?: string): Promise<HistoryPoint[]> {
    return (await this.call<Schemas["HistoryOut"]>("GET", withQuery(`${segmentPath(id)}/history`, { resolution, since }), undefined, signal)).points;
  }

  members(id: string, cursor?: string | null, limit = 50): Promise<Members> {
    return this.call<Members>("GET", withQuery(`${segmentPath(id)}/members`, { limit, cursor }));
  }

  /** Whether one contact is a member now, and since or until when (an unknown contact is a 404). */
  membership(id: string, contactId: string): Promise<Membership> {
    return this.call<Membership>("GET", `${segmentPath(id)}/members/${encodeURIComponent(contactId)}`);
  }

  transitions(id: string, query: { after?: string | null; cursor?: string | null; limit?: number } = {}, signal?: AbortSignal): Promise<Transitions> {
    return this.call<Transitions>("GET", withQuery(`${segmentPath(id)}/transitions`, query), undefined, signal);
  }

  snapshots(id: string, cursor?: string | null): Promise<Snapshots> {
    return this.call<Snapshots>("GET", withQuery(`${segmentPath(id)}/snapshots`, { cursor }));
  }

  takeSnapshot(id: string, label: string): Promise<Snapshot> {
    return this.call<Snapshot>("POST", `${segmentPath(id)}/snapshots`, { label });
  }

  snapshotContacts(id: string, snapshotId: string, category: string, cursor?: string | null): Promise<SnapshotContacts> {
    return this.call<SnapshotContacts>(
      "GET",
      withQuery(`${segmentPath(id)}/snapshots/${encodeURIComponent(snapshotId)}/contacts`, { category, cursor }),
    );
  }

  explain(id: string, contactId: string): Promise<Explanation> {
    return this.call<Explanation>("POST", `${segmentPath(id)}/explain/${encodeURIComponent(contactId)}`);
  }

  contactSegments(contactId: string): Promise<ContactSegments> {
    return this.call<ContactSegments>("GET", `contacts/${encodeURIComponent(contactId)}/segments`);
  }
}
